/**
 * Runs jobs at most `parallel` at a time, never two that share a resource
 * (a source volume, a destination, the volume group's free space for
 * snapshots): those run one after another, in file order.
 */
export interface Scheduled<T> {
  name: string;
  resources: string[];
  run: () => Promise<T>;
}

export async function runScheduled<T>(
  jobs: Scheduled<T>[],
  parallel: number,
  stopped: () => boolean,
): Promise<PromiseSettledResult<T>[]> {
  const results: (PromiseSettledResult<T> | undefined)[] = jobs.map(() => undefined);
  const busy = new Set<string>();
  const waiting = jobs.map((_, i) => i);
  const running = new Map<number, Promise<void>>();
  while (waiting.length > 0 || running.size > 0) {
    // Jobs not yet started when the run is stopped never start.
    if (stopped()) {
      for (const i of waiting.splice(0)) results[i] = { status: "rejected", reason: undefined };
    }
    for (let k = 0; k < waiting.length && running.size < parallel; ) {
      const i = waiting[k] as number;
      const job = jobs[i] as Scheduled<T>;
      // A job waits for its resources, and for any earlier job that waits for the same ones (file order).
      const blocked =
        job.resources.some((r) => busy.has(r)) ||
        waiting.slice(0, k).some((j) => jobs[j]?.resources.some((r) => job.resources.includes(r)));
      if (blocked) {
        k++;
        continue;
      }
      waiting.splice(k, 1);
      for (const r of job.resources) busy.add(r);
      const settle = job.run().then(
        (value) => {
          results[i] = { status: "fulfilled", value };
        },
        (reason: unknown) => {
          results[i] = { status: "rejected", reason };
        },
      );
      running.set(
        i,
        settle.finally(() => {
          for (const r of job.resources) busy.delete(r);
          running.delete(i);
        }),
      );
    }
    if (running.size > 0) await Promise.race(running.values());
  }
  return results as PromiseSettledResult<T>[];
}
