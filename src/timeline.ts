/**
 * A run's timeline, for finding where its time goes: with
 * BLOCKFERRY_TIMELINE=FILE set, each process appends one JSON line per event
 * to FILE (`ms` on the wall clock, so the two roles' lines interleave when
 * both run on one machine), each second, every FLUSH_LINES and at exit, then a
 * last line of the main thread's event-loop delay and utilisation. Off (one
 * comparison per event) otherwise. bench/timeline.ts runs a sync this way.
 */
import { appendFileSync } from "node:fs";
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from "node:perf_hooks";

/** One line of the file: when (ms on the wall clock), which process, what, and its details. */
export interface TimelineLine {
  ms: number;
  pid: number;
  event: string;
  type?: string;
  bytes?: number;
  [detail: string]: unknown;
}

const file = process.env.BLOCKFERRY_TIMELINE ?? "";
const lines: string[] = [];
/** Lines kept before they are appended: a long run's timeline must not grow in memory. */
const FLUSH_LINES = 10_000;

export const timelineOn = file !== "";

/** Records that `event` happened now, with a few numbers or words about it. */
export function mark(event: string, detail?: Record<string, number | string | boolean>): void {
  if (!timelineOn) return;
  push({ ms: now(), pid: process.pid, event, ...detail });
}

function push(line: TimelineLine): void {
  lines.push(JSON.stringify(line));
  if (lines.length >= FLUSH_LINES) flush();
}

function flush(): void {
  try {
    appendFileSync(file, `${lines.splice(0).join("\n")}\n`);
  } catch (e) {
    // A diagnostic must not fail the run it watches.
    process.stderr.write(`blockferry: BLOCKFERRY_TIMELINE: ${(e as Error).message}\n`);
  }
}

function now(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
}

if (timelineOn) {
  // The process's own start: module loading before the first mark shows as the gap after it.
  push({ ms: performance.timeOrigin, pid: process.pid, event: "process start" });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  watchStalls();
  watchCollections();
  // A process killed by a signal it does not handle loses at most its last second of lines.
  setInterval(() => lines.length > 0 && flush(), 1000).unref();
  process.once("exit", () => {
    delay.disable();
    const { utilization, active } = performance.eventLoopUtilization();
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const loop = { utilization: Math.round(utilization * 1000) / 1000, activeMs: Math.round(active) };
    const delays = { delayMeanMs: ms(delay.mean), delayP99Ms: ms(delay.percentile(99)), delayMaxMs: ms(delay.max) };
    mark("exit", { ...loop, ...delays });
    flush();
  });
}

/** Marks each time the main thread did not get back to its event loop for 30 ms or more (when it got back). */
function watchStalls(): void {
  const every = 10;
  let last = performance.now();
  setInterval(() => {
    const at = performance.now();
    if (at - last - every >= 30) mark("loop stalled", { stalledMs: Math.round(at - last - every) });
    last = at;
  }, every).unref();
}

/** Marks each garbage collection of 5 ms or more: a full one stops the main thread. */
function watchCollections(): void {
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weak callbacks",
  };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = kinds[(e as unknown as { detail: { kind: number } }).detail.kind] ?? "other";
      // Stamped when it began, so it sits out of order among the marks.
      if (e.duration >= 5)
        push({ ms: performance.timeOrigin + e.startTime, pid: process.pid, event: "gc", kind, gcMs: e.duration });
    }
  });
  observer.observe({ entryTypes: ["gc"] });
}
