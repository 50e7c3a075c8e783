/**
 * What identifies a target volume across runs, beyond its name: an image
 * file's device and inode; a block device's number and size, plus the first
 * stable id the kernel offers (device-mapper uuid, loop backing file, disk
 * WWID or serial). A renumbered or remapped device then no longer matches
 * its old state, and an interrupted copy is not resumed onto the wrong disk.
 */
import { readFile, stat, utimes } from "node:fs/promises";
import { deviceNumber } from "../host/device-number.js";
import { openVolume } from "../native/index.js";

const STABLE_IDS = ["dm/uuid", "loop/backing_file", "device/wwid", "device/serial"];

/** The identity of the volume at `path`, opened for its size. */
export async function volumeIdentityAt(path: string): Promise<string> {
  const volume = await openVolume(path);
  return volumeIdentity(path, volume.size).finally(() => volume.close());
}

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
 * inode, size, and modification and change times (nanoseconds: the change
 * time cannot be set back by `touch` or utimes, only by the kernel's clock); for a block device, the
 * kernel's counts of writes and discards to it since boot, with the boot's id
 * (after a reboot nothing can be ruled out), the disk's sequence number (a
 * disk replaced at the same number gets another) and, for a loop device, the
 * stamp of its backing file. Recorded when a sync completes (`seal`), compared
 * before the next one trusts a digest cache. Undefined when the kernel does
 * not tell.
 *
 * Sealing an image sets its modification time two seconds back: any later
 * write sets it to the present, so even a filesystem with coarse timestamps
 * cannot give a later write the time recorded (git's "racily clean" problem).
 */
export async function changeStamp(path: string, seal = false): Promise<string | undefined> {
  let st = await stat(path, { bigint: true });
  if (!st.isBlockDevice()) {
    if (seal) {
      await utimes(path, new Date(Number(st.atimeNs / 1_000_000n)), new Date(Date.now() - 2000));
      st = await stat(path, { bigint: true });
    }
    return `file:${st.ino}:${st.mtimeNs}:${st.ctimeNs}:${st.size}`;
  }
  const { major, minor } = deviceNumber(Number(st.rdev));
  const sys = `/sys/dev/block/${major}:${minor}`;
  const read = (p: string) =>
    readFile(p, "utf8").then(
      (t) => t.trim(),
      () => "",
    );
  const [boot, counters, diskseq, parentSeq, backing] = await Promise.all([
    read("/proc/sys/kernel/random/boot_id"),
    read(`${sys}/stat`),
    read(`${sys}/diskseq`),
    read(`${sys}/../diskseq`), // a partition's disk
    read(`${sys}/loop/backing_file`),
  ]);
  // Fields 5 and 7: writes completed, sectors written; 12 and 14: discards completed, sectors discarded.
  const f = counters.split(/\s+/);
  if (boot === "" || f.length < 7) return undefined;
  const backingStamp = backing === "" ? "" : await changeStamp(backing, seal).catch(() => "gone");
  return `block:${boot}:${diskseq || parentSeq}:${f[4]}:${f[6]}:${f[11] ?? ""}:${f[13] ?? ""}:${backingStamp}`;
}

/**
 * Whether the volume at `path` was written since `recorded` was taken: "no"
 * when its stamp is still that one; "unknown" when none was recorded, the
 * kernel does not tell, or a device's host rebooted since (its write counters
 * start again); else "yes".
 */
export async function writtenSince(path: string, recorded: string | undefined): Promise<"no" | "yes" | "unknown"> {
  const now = await changeStamp(path).catch(() => undefined);
  if (recorded === undefined || now === undefined) return "unknown";
  if (now === recorded) return "no";
  // block:BOOT-ID:...: after a reboot the counters say nothing.
  const boot = (stamp: string) => (stamp.startsWith("block:") ? stamp.split(":")[1] : "");
  return boot(now) !== boot(recorded) ? "unknown" : "yes";
}
