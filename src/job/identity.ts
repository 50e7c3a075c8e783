/**
 * What identifies a target volume across runs, beyond its name: an image
 * file's device and inode; a block device's number and size, plus the first
 * stable id the kernel offers (device-mapper uuid, loop backing file, disk
 * WWID or serial). A renumbered or remapped device then no longer matches
 * its old state, and an interrupted copy is not resumed onto the wrong disk.
 */
import { readFile, stat } from "node:fs/promises";

const STABLE_IDS = ["dm/uuid", "loop/backing_file", "device/wwid", "device/serial"];

export async function volumeIdentity(path: string, size: number): Promise<string> {
  const st = await stat(path);
  if (!st.isBlockDevice()) return `file:${st.dev}:${st.ino}`;
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  let stable = "";
  for (const id of STABLE_IDS) {
    stable = (await readFile(`/sys/dev/block/${major}:${minor}/${id}`, "utf8").catch(() => "")).trim();
    if (stable !== "") break;
  }
  return `block:${major}:${minor}:${size}:${stable}`;
}
