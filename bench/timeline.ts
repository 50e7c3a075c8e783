/**
 * Where a sync's time goes (issue 20): the pool delta of bench/pool-delta.ts
 * run once over the emulated gigabit link with BLOCKFERRY_TIMELINE set for
 * both processes, then both roles' events on one clock: milestones, the
 * reads and writes, the messages each way, the longest quiet gaps of each
 * role, and each main thread's event-loop utilisation and delay.
 *   npm run build && sudo npx tsx bench/timeline.ts [--mode delta|cached|copy] [--gib 2] [--files 40000] [--sync-args="--compress lz4"]
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink } from "../test/helpers/netns.js";
import { out } from "./lib/paths.js";
import { poolScenario, resetTarget } from "./lib/pool-scenario.js";
import { identical, timedRun } from "./lib/run.js";
import { printTimeline, type TimelineEvent } from "./lib/timeline-report.js";
import { blockferryTool } from "./lib/tools.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "delta" },
    gib: { type: "string", default: "2" },
    files: { type: "string", default: "40000" },
    "target-dir": { type: "string", default: "/dev/shm" },
    /** More options for the timed sync, space-separated (e.g. "--compress lz4"). */
    "sync-args": { type: "string", default: "" },
  },
});
const mode = values.mode as string;
if (!["delta", "cached", "copy"].includes(mode)) throw new Error(`--mode: delta, cached or copy, not ${mode}`);
const pool = poolScenario(values.gib as string, Number(values.files));
const target = join(values["target-dir"] as string, "blockferry-timeline-target.img");
const cacheDir = join(out, "timeline-cache");
const file = join(out, "timeline.jsonl");
const link = createLink({ rate: "1gbit" });
try {
  rmSync(cacheDir, { recursive: true, force: true });
  rmSync(`${target}.blockferry-state.json`, { force: true });
  rmSync(target, { force: true });
  const sync = (source: string, extra: string[]) =>
    blockferryTool(link, source, target, { sync: ["--json", "--quiet", "--cache-dir", cacheDir, ...extra] });
  // The cached night needs yesterday's sync (untimed) to leave its cache and the target's state behind.
  if (mode === "cached") await timedRun(link, "yesterday's sync", sync(pool.before, []));
  else if (mode === "delta") resetTarget(pool, target);
  rmSync(file, { force: true });
  process.env.BLOCKFERRY_TIMELINE = file;
  const extra = (values["sync-args"] as string).split(" ").filter((a) => a !== "");
  const run = await timedRun(link, mode, sync(pool.after, [...(mode === "delta" ? ["--no-cache"] : []), ...extra]));
  delete process.env.BLOCKFERRY_TIMELINE;
  const summary = JSON.parse(run.sender.stdout);
  console.log(`${mode}: ${run.seconds.toFixed(2)} s from the sender's start to the receiver's exit`);
  console.log(`sent ${(run.tx / 1e6).toFixed(1)} MB; ${summary.blocks.changed} of ${summary.blocks.compared} blocks`);
  console.log(`identical: ${identical(pool.after, target)}\n`);
  const events = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as TimelineEvent);
  printTimeline(events);
} finally {
  link.cleanup();
  for (const left of [target, `${target}.blockferry-state.json`, `${target}.blockferry-history.jsonl`]) {
    rmSync(left, { force: true });
  }
}
