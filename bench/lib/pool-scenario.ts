/**
 * The backup-pool delta scenario: the old image (made once, kept in
 * bench/out), and a copy of it changed through the filesystem as a night of
 * backups would (about 1% of its files), with the 4 KiB blocks that differ.
 */
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, openSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { out } from "./paths.js";
import { change, makePoolImage } from "./pool-image.js";

export interface PoolScenario {
  bytes: number;
  files: number;
  /** New pool files in the night's change (a tenth as many deleted or rewritten). */
  added: number;
  before: string;
  after: string;
  changedBlocks: number;
  /** Which 4 KiB blocks they are, in order. */
  changed4k: number[];
}

/** The `unit`-sized pieces (4 KiB blocks, 64 KiB pool chunks) that differ between two images of `bytes`, in order. */
export function changedUnits(a: string, b: string, bytes: number, unit: number): number[] {
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  const chunk = 64 << 20;
  const ba = Buffer.alloc(chunk);
  const bb = Buffer.alloc(chunk);
  const changed: number[] = [];
  for (let off = 0; off < bytes; off += chunk) {
    const ra = readSync(fa, ba, 0, chunk, off);
    readSync(fb, bb, 0, chunk, off);
    for (let i = 0; i < ra; i += unit)
      if (ba.compare(bb, i, i + unit, i, i + unit) !== 0) changed.push((off + i) / unit);
  }
  closeSync(fa);
  closeSync(fb);
  return changed;
}

/** `gib` (as given on the command line: it names the cached image) GiB with `files` pool files. */
export function poolScenario(gib: string, files: number): PoolScenario {
  const bytes = Number(gib) * 2 ** 30;
  const added = Math.round(files / 100);
  const before = join(out, `pool-before-${gib}g-${files}.img`);
  const after = join(out, "pool-after.img");
  if (!existsSync(`${before}.made`)) {
    console.error(`making ${before} with ${files} pool files...`);
    makePoolImage(before, bytes, files);
    writeFileSync(`${before}.made`, "v1");
  }
  execFileSync("cp", ["--sparse=always", before, after]);
  change(after, files, added);
  const changed4k = changedUnits(before, after, bytes, 4096);
  return { bytes, files, added, before, after, changedBlocks: changed4k.length, changed4k };
}

/** The target back to the old image, as it was before the night. */
export function resetTarget(s: PoolScenario, target: string): void {
  execFileSync("cp", ["--sparse=always", s.before, target]);
}
