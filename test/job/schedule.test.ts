import { describe, expect, it } from "vitest";
import { runScheduled, type Scheduled } from "../../src/job/schedule.js";

/** Jobs that record when they start and finish, each waiting until the test releases it. */
function jobs(specs: Array<[string, string[]]>) {
  const events: string[] = [];
  const release = new Map<string, () => void>();
  const list: Scheduled<string>[] = specs.map(([name, resources]) => ({
    name,
    resources,
    run: async () => {
      events.push(`start ${name}`);
      await new Promise<void>((r) => release.set(name, r));
      events.push(`end ${name}`);
      if (name.startsWith("fail")) throw new Error(name);
      return name;
    },
  }));
  return { list, events, release: (name: string) => release.get(name)?.() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("runScheduled", () => {
  it("runs jobs that share nothing at once, up to the limit, and one that shares a resource after", async () => {
    const j = jobs([
      ["a", ["src:1", "dst:1"]],
      ["b", ["src:2", "dst:2"]],
      ["c", ["src:1", "dst:3"]], // shares src:1 with a
      ["d", ["src:4", "dst:4"]],
    ]);
    const done = runScheduled(j.list, 3, () => false);
    await tick();
    // c waits for a; d need not wait for c (another resource), and the limit is 3.
    expect(j.events).toEqual(["start a", "start b", "start d"]);
    j.release("a");
    await tick();
    await tick();
    expect(j.events).toEqual(["start a", "start b", "start d", "end a", "start c"]);
    for (const n of ["b", "c", "d"]) j.release(n);
    const results = await done;
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : "x"))).toEqual(["a", "b", "c", "d"]);
  });

  it("keeps file order among jobs waiting for the same resource", async () => {
    const j = jobs([
      ["a", ["lvm"]],
      ["b", ["lvm"]],
      ["c", ["lvm"]],
    ]);
    const done = runScheduled(j.list, 8, () => false);
    for (const n of ["a", "b", "c"]) {
      await tick();
      await tick();
      expect(j.events.filter((e) => e.startsWith("start"))).toHaveLength(["a", "b", "c"].indexOf(n) + 1);
      j.release(n);
    }
    await done;
    expect(j.events).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
  });

  it("one job's failure does not stop the others; a stop leaves the rest unstarted", async () => {
    const j = jobs([
      ["fail-1", ["x"]],
      ["b", ["x"]],
      ["c", ["x"]],
    ]);
    let stopped = false;
    const done = runScheduled(j.list, 1, () => stopped);
    await tick();
    j.release("fail-1");
    await tick();
    await tick();
    stopped = true;
    j.release("b");
    const results = await done;
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "rejected"]);
    expect((results[2] as PromiseRejectedResult).reason).toBeUndefined(); // never started
    expect(j.events).not.toContain("start c");
  });
});
