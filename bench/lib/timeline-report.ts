/** Reads the lines BLOCKFERRY_TIMELINE leaves (src/timeline.ts) and prints both roles on one clock. */
import type { TimelineLine as TimelineEvent } from "../../src/timeline.js";

export type { TimelineEvent };

const MILESTONES = [
  "process start",
  "modules loaded",
  "source opened",
  "accepted",
  "connected",
  "writes drained",
  "synced",
  "recorded",
  "source finished",
  "cache saved",
  "exit",
];

/** The role a process played, from what it marked. */
function roleOf(events: TimelineEvent[]): string {
  if (events.some((e) => e.event === "source opened")) return "source";
  if (events.some((e) => e.event === "accepted")) return "target";
  return "other";
}

export function printTimeline(lines: TimelineEvent[]): void {
  // A collection's line is stamped when it began: sorted, every role's events are in order.
  const all = [...lines].sort((a, b) => a.ms - b.ms);
  const pids = [...new Set(all.map((e) => e.pid))];
  const byRole = new Map(pids.map((p) => [roleOf(all.filter((e) => e.pid === p)), all.filter((e) => e.pid === p)]));
  const t0 = byRole.get("source")?.[0]?.ms ?? Math.min(...all.map((e) => e.ms));
  const at = (e: TimelineEvent) => `${((e.ms - t0) / 1000).toFixed(3)} s`;
  console.log("milestones (seconds from the source's process start):");
  for (const [role, events] of byRole) {
    for (const e of events) {
      if (MILESTONES.includes(e.event)) console.log(`  ${at(e).padStart(9)}  ${role.padEnd(6)} ${e.event}`);
    }
    for (const type of ["hello", "welcome", "start", "end", "done"]) {
      for (const dir of ["sent", "received"]) {
        const e = events.find((x) => x.event === dir && x.type === type);
        if (e) console.log(`  ${at(e).padStart(9)}  ${role.padEnd(6)} ${type.toUpperCase()} ${dir}`);
      }
    }
  }
  for (const [role, events] of byRole) printRole(role, events, at);
}

function printRole(role: string, events: TimelineEvent[], at: (e: TimelineEvent) => string): void {
  console.log(`\n${role}:`);
  const reads = events.filter((e) => e.event === "read");
  if (reads.length > 0) {
    const total = sum(reads, "callMs");
    const reading = sum(reads, "readMs");
    console.log(
      `  reads: ${reads.length}, ${(sum(reads, "bytes") / 1e6).toFixed(1)} MB, first done ${at(reads[0] as TimelineEvent)}, last ${at(reads.at(-1) as TimelineEvent)}; ` +
        `${total.toFixed(0)} ms in calls, of which ${reading.toFixed(0)} ms reading`,
    );
  }
  const writes = events.filter((e) => e.event === "written");
  if (writes.length > 0) {
    console.log(
      `  writes: ${writes.length}, ${(sum(writes, "bytes") / 1e6).toFixed(1)} MB, first done ${at(writes[0] as TimelineEvent)}, last ${at(writes.at(-1) as TimelineEvent)}`,
    );
  }
  for (const dir of ["sent", "received"]) {
    const messages = events.filter((e) => e.event === dir);
    const types = [...new Set(messages.map((m) => m.type))];
    const parts = types.map((t) => {
      const of = messages.filter((m) => m.type === t);
      return `${t} ${of.length} (${(sum(of, "bytes") / 1e6).toFixed(2)} MB, ${at(of[0] as TimelineEvent)}–${at(of.at(-1) as TimelineEvent)})`;
    });
    console.log(`  ${dir}: ${parts.join("; ")}`);
  }
  const exit = events.find((e) => e.event === "exit");
  if (exit) {
    const { utilization, activeMs, delayMeanMs, delayP99Ms, delayMaxMs } = exit;
    console.log(
      `  main thread: busy ${activeMs} ms (utilisation ${utilization}); loop delay mean ${delayMeanMs} ms, p99 ${delayP99Ms}, max ${delayMaxMs}`,
    );
  }
  console.log("  longest quiet gaps (no event of this role):");
  const gaps = events
    .slice(1)
    .map((e, i) => ({ ms: e.ms - (events[i] as TimelineEvent).ms, before: events[i], after: e }));
  for (const g of gaps.sort((a, b) => b.ms - a.ms).slice(0, 8)) {
    const name = (e?: TimelineEvent) => (e ? `${e.event}${e.type ? ` ${e.type}` : ""}` : "");
    console.log(
      `    ${g.ms.toFixed(1).padStart(7)} ms at ${at(g.before as TimelineEvent)}: ${name(g.before)} → ${name(g.after)}`,
    );
  }
}

function sum(events: TimelineEvent[], key: string): number {
  return events.reduce((n, e) => n + (Number(e[key]) || 0), 0);
}
