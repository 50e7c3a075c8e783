/**
 * A BackupPC pool in a mounted filesystem: many small files in a hashed pool
 * and per-host backup trees of hard links into it. A night of backups adds
 * pool files and links and deletes or rewrites a few, so that the blocks it
 * changes are scattered over inode tables, bitmaps, directories, the journal
 * and data, as on a real pool. Shared by the benchmarks (an ext4 image on a
 * loop device) and the guest tier (ext4 on a thin LV).
 */
import { linkSync, mkdirSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compressibleBytes, seededBytes, seededInts } from "./random.js";

function poolFile(i: number, seed: number): Buffer {
  const pick = seededInts(seed + i);
  const size = 1024 + pick(48 * 1024); // 1 to 49 KiB
  return pick(2) === 0 ? compressibleBytes(size, seed + i) : seededBytes(size, seed + i);
}

/** Pool files `from` to `from + count` under `root`/pool, each hard-linked from one to four host backups. */
export function addPoolFiles(root: string, from: number, count: number, seed: number): void {
  const pick = seededInts(seed + from);
  for (let i = from; i < from + count; i++) {
    const dir = join(root, "pool", (i % 256).toString(16).padStart(2, "0"));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `f${i}`);
    writeFileSync(file, poolFile(i, seed));
    for (let h = 0, n = 1 + pick(4); h < n; h++) {
      const pc = join(root, "pc", `host${pick(8)}`, `backup${Math.floor(i / 5000)}`, (i % 64).toString());
      mkdirSync(pc, { recursive: true });
      try {
        linkSync(file, join(pc, `f${i}-${h}`));
      } catch {
        // the same name drawn twice: one link is enough
      }
    }
  }
}

/** One night on a pool of `files`: `added` new pool files (with links), and a tenth as many deleted or rewritten. */
export function nightOfBackups(root: string, files: number, added: number, seed: number): void {
  addPoolFiles(root, files, added, seed);
  const pick = seededInts(seed);
  for (let i = 0; i < added / 10; i++) {
    const dir = join(root, "pool", pick(256).toString(16).padStart(2, "0"));
    const names = readdirSync(dir);
    const victim = names[pick(names.length)];
    if (victim === undefined) continue;
    if (i % 2 === 0) unlinkSync(join(dir, victim));
    else writeFileSync(join(dir, victim), poolFile(files + added + i, seed));
  }
}
