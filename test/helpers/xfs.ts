/**
 * A small XFS filesystem (reflinks on) on a loop device whose backing file
 * lives in /dev/shm, mounted at a directory of the test's: for --keep-good
 * reflink. Root only. Unmounted, detached and removed by its own ids.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { attachLoop, detachLoop, loopUnavailable } from "./loop.js";
import { unmount } from "./small-fs.js";

/** Why an XFS filesystem cannot be made here, or undefined when it can. */
export function xfsUnavailable(): string | undefined {
  const loop = loopUnavailable();
  if (loop !== undefined) return loop;
  try {
    execFileSync("mkfs.xfs", ["-V"], { stdio: "ignore" });
  } catch {
    return "mkfs.xfs is not installed (xfsprogs)";
  }
  return undefined;
}

export interface Xfs {
  dir: string;
  remove(): void;
}

export function mountXfs(dir: string, bytes = 512 << 20): Xfs {
  const backing = join("/dev/shm", `blockferry-xfs-${process.pid}-${Math.random().toString(36).slice(2)}.img`);
  writeFileSync(backing, "");
  truncateSync(backing, bytes);
  const device = attachLoop(backing);
  try {
    execFileSync("mkfs.xfs", ["-q", "-m", "reflink=1", device], { stdio: "pipe" });
    mkdirSync(dir, { recursive: true });
    execFileSync("mount", [device, dir], { stdio: "pipe" });
  } catch (e) {
    detachLoop(device);
    rmSync(backing, { force: true });
    throw e;
  }
  return {
    dir,
    remove() {
      unmount(dir);
      detachLoop(device);
      rmSync(backing, { force: true });
    },
  };
}
