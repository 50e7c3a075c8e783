/**
 * Inside the guest: a night's sync from an LV by the CLI, with its JSON
 * summary, its wall time and a timeline of what it logged (each line stamped
 * with the seconds since the command started): where a night's time goes.
 */
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
}

/** `blockferry sync --json --snapshot lvm --block-size 4K EXTRA ORIGIN DEST`; fails the test unless it exits 0. */
export async function night(s: Scenario, origin: string, dest: string, ...extra: string[]): Promise<Night> {
  const started = performance.now();
  // 4 KiB blocks, no pieces: the target reads nothing, as issue 19 asks of a change-tracked night
  // (with 64 KiB blocks it would read the blocks offered to it piece by piece).
  const args = ["sync", "--json", "--snapshot", "lvm", "--block-size", "4K", ...extra, origin, dest];
  const child = s.bfStart(args);
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
  return { summary: JSON.parse(r.stdout) as NightSummary, wall, stderr: r.stderr, timeline };
}

/** Logs and prints a scenario's figures and the nights' timelines. */
export function report(s: Scenario, tag: string, figures: object, nights: Record<string, Night>): void {
  s.log(`FIGURES ${JSON.stringify(figures)}`);
  console.log(`[${tag}] ${JSON.stringify(figures)}`);
  for (const [name, run] of Object.entries(nights)) {
    s.log(`TIMELINE ${name}:\n${run.timeline.join("\n")}`);
    console.log(`[${tag}] timeline of the ${name} night:\n${run.timeline.join("\n")}`);
  }
}
