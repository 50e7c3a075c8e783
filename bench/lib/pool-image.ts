/**
 * An ext4 image shaped like a BackupPC pool: many small files in a hashed
 * pool, and per-host backup trees made of hardlinks into it. `change()` then
 * does what a night of backups does through the filesystem: new pool files
 * and links, a few deletions and rewrites, so that the changed blocks are
 * scattered over inode tables, bitmaps, directories and data.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addPoolFiles, nightOfBackups } from "../../test/helpers/backup-pool.js";

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

/** Makes the image: `bytes` big, with `files` pool files. */
export function makePoolImage(image: string, bytes: number, files: number, seed = 1): void {
  rmSync(image, { force: true });
  execFileSync("truncate", ["-s", String(bytes), image]);
  execFileSync("mkfs.ext4", ["-q", "-F", "-b", "4096", image]);
  withMounted(image, (root) => addPoolFiles(root, 0, files, seed));
}

/** One night: `added` new pool files (with links), and a few deletions and rewrites. */
export function change(image: string, files: number, added: number, seed = 2): void {
  withMounted(image, (root) => nightOfBackups(root, files, added, seed));
}
