/**
 * A row's floor on this machine (issue 20): the process start, then the
 * slower of reading the source's data (O_DIRECT, as the engine reads it) and
 * putting the row's bytes on the link at its measured goodput, which the
 * pipeline overlaps. No tool can beat it; the ratio to it is what is left to win.
 */
import { rmSync } from "node:fs";
import type { Link } from "../../test/helpers/netns.js";
import { image } from "./images.js";
import { measured } from "./measure.js";
import { cli, out } from "./paths.js";
import { median, timedRun } from "./run.js";
import { ddNcTool } from "./tools.js";

export interface LinkFloor {
  /** `blockferry --version` in the source's namespace: Node's start and the CLI's modules. */
  startSeconds: number;
  /** Bytes per second `dd | nc` moves over the link (counted as the rows are: bytes on the link). */
  goodput: number;
}

export function rowFloor(f: LinkFloor, readSeconds: number, linkBytes: number): number {
  return f.startSeconds + Math.max(readSeconds, linkBytes / f.goodput);
}

/** The link's floor, medians of `rounds`: the start, and 1 GiB of random data through `dd | nc` to tmpfs. */
export async function measureLinkFloor(link: Link, rounds: number): Promise<LinkFloor> {
  const source = image(out, "random", 2 ** 30);
  const target = "/dev/shm/blockferry-goodput.img";
  const starts: number[] = [];
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const version = await measured(link.src, [process.execPath, cli, "--version"]).done;
    if (version.code !== 0) throw new Error(`blockferry --version failed: ${version.stderr}`);
    starts.push((performance.now() - t0) / 1000);
    const run = await timedRun(link, "dd | nc", ddNcTool(link, source, target));
    rates.push(run.tx / run.seconds);
  }
  rmSync(target, { force: true });
  return { startSeconds: median(starts), goodput: median(rates) };
}
