/**
 * An ext4 image shaped like a BackupPC pool: many small files in a hashed
 * pool, and per-host backup trees made of hardlinks into it. `change()` then
 * does what a night of backups does through the filesystem: new pool files
 * and links, a few deletions and rewrites, so that the changed blocks are
 * scattered over inode tables, bitmaps, directories and data.
 */
import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compressibleBytes, seededBytes, seededInts } from "../../test/helpers/random.js";

function withMounted<T>(image: string, work: (root: string) => T): T {
  const device = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();
  const root = mkdtempSync(join(tmpdir(), "bf-pool-"));
  try {
    execFileSync("mount", [device, root]);
    try {
      return work(root);
    } finally {
      execFileSync("umount", [root]);
    }
  } finally {
    execFileSync("losetup", ["--detach", device]);
    rmSync(root, { recursive: true, force: true });
  }
}

function poolFile(i: number, seed: number): Buffer {
  const pick = seededInts(seed + i);
  const size = 1024 + pick(48 * 1024); // 1 to 49 KiB
  return pick(2) === 0 ? compressibleBytes(size, seed + i) : seededBytes(size, seed + i);
}

function addFiles(root: string, from: number, count: number, seed: number): void {
  const pick = seededInts(seed + from);
  for (let i = from; i < from + count; i++) {
    const dir = join(root, "pool", (i % 256).toString(16).padStart(2, "0"));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `f${i}`);
    writeFileSync(file, poolFile(i, seed));
    // Each pool file appears in one to four host backups, as hardlinks.
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

/** Makes the image: `bytes` big, with `files` pool files. */
export function makePoolImage(image: string, bytes: number, files: number, seed = 1): void {
  rmSync(image, { force: true });
  execFileSync("truncate", ["-s", String(bytes), image]);
  execFileSync("mkfs.ext4", ["-q", "-F", "-b", "4096", image]);
  withMounted(image, (root) => addFiles(root, 0, files, seed));
}

/** One night: `added` new pool files (with links), and a few deletions and rewrites. */
export function change(image: string, files: number, added: number, seed = 2): void {
  withMounted(image, (root) => {
    addFiles(root, files, added, seed);
    const pick = seededInts(seed);
    for (let i = 0; i < added / 10; i++) {
      const dir = join(root, "pool", pick(256).toString(16).padStart(2, "0"));
      const names = readdirSync(dir);
      const victim = names[pick(names.length)];
      if (victim === undefined) continue;
      if (i % 2 === 0) unlinkSync(join(dir, victim));
      else writeFileSync(join(dir, victim), poolFile(files + added + i, seed));
    }
  });
}
