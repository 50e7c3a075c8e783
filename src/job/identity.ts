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
  const { major, minor } = deviceNumber(st.rdev);
  let stable = "";
  for (const id of STABLE_IDS) {
    stable = (await readFile(`/sys/dev/block/${major}:${minor}/${id}`, "utf8").catch(() => "")).trim();
    if (stable !== "") break;
  }
  return `block:${major}:${minor}:${size}:${stable}`;
}

/**
 * A value that changes whenever the volume is written: for an image file, its
 * modification and change times (nanoseconds) and size; for a block device,
 * the kernel's count of sectors written to it since boot, with the boot's id
 * (after a reboot nothing can be ruled out). Recorded when a sync completes,
 * compared before the next one trusts a digest cache. Undefined when the
 * kernel does not tell.
 */
export async function changeStamp(path: string): Promise<string | undefined> {
  const st = await stat(path, { bigint: true });
  if (!st.isBlockDevice()) return `file:${st.mtimeNs}:${st.ctimeNs}:${st.size}`;
  const { major, minor } = deviceNumber(Number(st.rdev));
  const [boot, counters] = await Promise.all([
    readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => ""),
    readFile(`/sys/dev/block/${major}:${minor}/stat`, "utf8").catch(() => ""),
  ]);
  // Fields 5 and 7: writes completed, sectors written (discards are counted apart, from field 12).
  const fields = counters.trim().split(/\s+/);
  if (boot.trim() === "" || fields.length < 7) return undefined;
  return `block:${boot.trim()}:${fields[4]}:${fields[6]}`;
}

function deviceNumber(rdev: number): { major: number; minor: number } {
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}
