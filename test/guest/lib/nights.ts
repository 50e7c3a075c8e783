/**
 * Inside the guest: a night's sync from an LV by the CLI, with its JSON
 * summary, its wall time and a timeline of what it logged (each line stamped
 * with the seconds since the command started) and its phases, from the
 * process's own BLOCKFERRY_TIMELINE (src/timeline.ts, logged whole): where a
 * night's time goes.
 */
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import type { Scenario } from "./scenario.js";

export interface NightSummary {
  changesFoundBy: string;
  keptSnapshot: string | null;
  diffSeconds: number;
  /** From the command's start to its end (snapshot commands and the diff in it), not the process start. */
  seconds: number;
  blocks: { compared: number; changed: number };
  bytes: { read: number; wire: number; targetRead: number; raw: number; zero: number };
}

export interface Night {
  summary: NightSummary;
  wall: number;
  stderr: string;
  timeline: string[];
  /** Seconds per phase, from the process's own timeline (phasesOf). */
  phases: Record<string, number>;
}

let nights = 0;

/** `blockferry sync --json --snapshot lvm --block-size 4K EXTRA ORIGIN DEST`; fails the test unless it exits 0. */
export async function night(s: Scenario, origin: string, dest: string, ...extra: string[]): Promise<Night> {
  const started = performance.now();
  // 4 KiB blocks, no pieces: the target reads nothing, as issue 19 asks of a change-tracked night
  // (with 64 KiB blocks it would read the blocks offered to it piece by piece).
  const args = ["sync", "--json", "--snapshot", "lvm", "--block-size", "4K", ...extra, origin, dest];
  const timelineFile = `${s.dir}/timeline-${++nights}.jsonl`;
  const child = s.bfStart(args, { BLOCKFERRY_TIMELINE: timelineFile });
  const timeline: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => {
    const at = ((performance.now() - started) / 1000).toFixed(2);
    for (const line of chunk
      .toString()
      .split("\n")
      .filter((l) => l !== ""))
      timeline.push(`${at} ${line.slice(0, 100)}`);
  });
  const r = await child.output();
  const wall = (performance.now() - started) / 1000;
  expect(r.code, r.stderr).toBe(0);
  const events = readFileSync(timelineFile, "utf8");
  s.log(`BLOCKFERRY_TIMELINE ${timelineFile}\n${events}`);
  const summary = JSON.parse(r.stdout) as NightSummary;
  return { summary, wall, stderr: r.stderr, timeline, phases: phasesOf(events, wall) };
}

/**
 * Where a night's seconds went, from its BLOCKFERRY_TIMELINE events (one
 * process: both roles of a local sync): Node's start, the snapshot and the
 * diff, the session's opening, the data, its end (drain, fsync, state, cache)
 * and what follows (the base kept, the snapshot removed, the history).
 */
export function phasesOf(events: string, wall: number): Record<string, number> {
  const lines = events
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { ms: number; event: string; type?: string });
  const at = (event: string, type?: string) => {
    const found = lines.find((e) => e.event === event && (type === undefined || e.type === type));
    if (found === undefined) throw new Error(`the timeline has no ${event} ${type ?? ""}`);
    return found.ms / 1000;
  };
  const marks = [
    ["node and modules", at("process start"), at("modules loaded")],
    ["snapshot, diff, open", at("modules loaded"), at("source opened")],
    ["session opening", at("source opened"), at("sent", "start")],
    ["data", at("sent", "start"), at("sent", "end")],
    ["end of the copy", at("sent", "end"), at("cache saved")],
    ["base kept, history", at("cache saved"), at("exit")],
  ] as const;
  const phases: Record<string, number> = {};
  for (const [name, from, to] of marks) phases[name] = round(to - from);
  phases["outside the process"] = round(wall - (at("exit") - at("process start")));
  return phases;
}

function round(seconds: number): number {
  return Math.round(seconds * 100) / 100;
}

/** Logs and prints a scenario's figures and the nights' timelines. */
export function report(s: Scenario, tag: string, figures: object, nights: Record<string, Night>): void {
  s.log(`FIGURES ${JSON.stringify(figures)}`);
  console.log(`[${tag}] ${JSON.stringify(figures)}`);
  for (const [name, run] of Object.entries(nights)) {
    s.log(`TIMELINE ${name}:\n${run.timeline.join("\n")}\nPHASES ${name}: ${JSON.stringify(run.phases)}`);
    console.log(`[${tag}] timeline of the ${name} night:\n${run.timeline.join("\n")}`);
    console.log(`[${tag}] phases of the ${name} night (seconds): ${JSON.stringify(run.phases)}`);
  }
}
