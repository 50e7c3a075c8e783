/**
 * --keep-good lvm: the good copy of an LV target is an LVM snapshot of it,
 * LV-blockferry-good, read-only and tagged blockferry-good, made before a
 * sync's first write (src/engine/good-copy.ts) and removed once the sync is
 * verified. A thin LV gets a thin snapshot (its room is in the pool; lvm2
 * leaves it inactive, it is never read); a thick LV a classic snapshot of
 * --keep-good-size (default 20%ORIGIN), which holds the old contents of every
 * block the sync rewrites: if the sync rewrites more than that, the kernel
 * invalidates the snapshot, the sync goes on, and the good copy is lost
 * (reported and recorded, never ignored).
 *
 * The commands (REPORT as in src/host/lvm.ts):
 *   lvs REPORT -o vg_name,lv_name,... -- TARGET                     is it an LV, thin or thick
 *   lvs REPORT -o lv_name,origin,lv_tags,lv_attr,data_percent,lv_size -- VG      our snapshot?
 *   lvremove -f VG/LV-blockferry-good                                 only if ours (origin, tag)
 *   lvcreate --snapshot --permission r --name LV-blockferry-good --addtag blockferry-good [SIZE] VG/LV
 *   lvconvert --merge -y --interval 1 VG/LV-blockferry-good          promote: the good copy back
 *
 * Only an LV named LV-blockferry-good, a snapshot of the target's LV, tagged
 * blockferry-good, is ever removed or merged: a state file naming another LV
 * (edited, or the LV renamed) is refused, not obeyed.
 */
import type { GoodCopyKeeper } from "../engine/target-types.js";
import { BlockferryError } from "../errors.js";
import { type Origin, resolveOrigin, snapshotName, snapshotSizeArgs } from "../host/lvm.js";
import { lvm, lvremoveRetried, lvs } from "../host/lvm-tools.js";
import { quoted } from "../printable.js";
import { formatBytes } from "../units.js";
import { invalid } from "../validate.js";

type Log = (line: string) => void;

const TAG = "blockferry-good";
const SUFFIX = "-blockferry-good";
/** Room for the old contents of a fifth of the LV: a night's delta rewrites far less (see README). */
export const DEFAULT_KEEP_GOOD_SIZE = "20%ORIGIN";
const FIELDS = ["lv_name", "origin", "lv_tags", "lv_attr", "data_percent", "lv_size"] as const;
type Row = Record<(typeof FIELDS)[number], string>;
const DROP_RETRY_DELAYS_MS = [500, 1000, 2000];
const MERGE_WAIT_MS = 10 * 60_000;

/** What the snapshot of `origin` that keeps its good copy is called: VG/LV-blockferry-good. */
export function goodSnapshotOf(origin: Pick<Origin, "vg" | "lv">): string {
  return `${origin.vg}/${snapshotName(origin.lv, SUFFIX)}`;
}

/** The target as LVM knows it, or a refusal that says --keep-good lvm needs an LV. */
async function targetLv(path: string, what: string, log: Log): Promise<Origin> {
  try {
    return await resolveOrigin(path, log);
  } catch (e) {
    const why = (e as Error).message.replace(/^source: /, "");
    throw new BlockferryError(
      "E_UNSUPPORTED",
      `${what}: ${quoted(path)} must be an LVM logical volume, which LVM snapshots keep: ${why}`,
      { cause: e },
    );
  }
}

/**
 * At a receiver's start: the target is an LV (not an image file, not another
 * block device, not a snapshot), lvm2 is installed, the size fits the LV's
 * kind, and a thick LV's volume group has room for a snapshot at all.
 */
export async function checkLvmTarget(path: string, name: string, size: string | undefined, log: Log): Promise<void> {
  const what = `--keep-good ${name}=lvm`;
  const origin = await targetLv(path, what, log);
  if (origin.pool !== undefined) {
    if (size !== undefined) {
      const thin = `no size for ${origin.vg}/${origin.lv}: a thin LV's snapshot takes its room in the pool ${origin.vg}/${origin.pool}`;
      throw invalid("--keep-good-size", thin, size);
    }
    return;
  }
  sizeArgs(size);
  if (origin.vgFree === 0) throw noRoom(origin, what);
}

function sizeArgs(size: string | undefined): string[] {
  try {
    return snapshotSizeArgs(size ?? DEFAULT_KEEP_GOOD_SIZE);
  } catch {
    throw invalid("--keep-good-size", "a size such as 2G, or 20%ORIGIN, 50%FREE or 10%VG", size ?? "");
  }
}

function noRoom(origin: Origin, what: string): BlockferryError {
  return new BlockferryError(
    "E_SNAPSHOT",
    `${what}: the volume group ${origin.vg} has no free space for the snapshot that keeps the good copy of ` +
      `${origin.vg}/${origin.lv} while a sync rewrites it; free some or add a disk (vgextend)`,
  );
}

/** Our snapshot of `origin`, another LV of its name, or nothing. */
async function findGood(origin: Origin, log: Log): Promise<{ name: string; row: Row | undefined; ours: boolean }> {
  const name = snapshotName(origin.lv, SUFFIX);
  const row = (await lvs(FIELDS, origin.vg, log)).find((r) => r.lv_name === name);
  const ours = row !== undefined && row.origin === origin.lv && row.lv_tags.split(",").includes(TAG);
  return { name, row, ours };
}

function notOurs(full: string, origin: Origin): BlockferryError {
  return new BlockferryError(
    "E_SNAPSHOT",
    `${full} exists but is not ours (not a snapshot of ${origin.vg}/${origin.lv} tagged ${TAG}): not touching it; rename or remove it`,
  );
}

/** Refuses a recorded place that is not where this target's good copy is kept. */
function expectWhere(where: string, origin: Origin): void {
  const expected = goodSnapshotOf(origin);
  if (where !== expected) {
    throw new BlockferryError(
      "E_SNAPSHOT",
      `the good copy is recorded at ${quoted(where)}, but the good copy of ${origin.vg}/${origin.lv} is kept at ${expected}: not touching ${quoted(where)}`,
    );
  }
}

/** Why the classic snapshot `row` no longer holds the good copy (it filled up), or "". */
function overflowed(row: Row, origin: Origin, full: string): string {
  if (origin.pool !== undefined) return ""; // a thin snapshot has no room of its own to run out of
  const percent = row.data_percent === "" ? 0 : Number.parseFloat(row.data_percent);
  if (row.lv_attr[4] !== "I" && percent < 100) return "";
  const size = Number(row.lv_size);
  const next = 2 * size >= origin.size ? "100%ORIGIN" : `${Math.ceil((2 * size) / 2 ** 20)}M`;
  return (
    `its snapshot ${full} filled up (${formatBytes(size)} of old blocks, while the sync rewrote more) and is invalid; ` +
    `give --keep-good-size ${next} (with that much free space in ${origin.vg})`
  );
}

export function lvmKeeper(path: string, size: string | undefined, log: Log): GoodCopyKeeper {
  return {
    method: "lvm",
    preserve: () => preserve(path, size, log),
    drop: (where) => drop(path, where, log),
    async lost(where) {
      const origin = await resolveOrigin(path, log);
      if (where !== goodSnapshotOf(origin))
        return `it is recorded at ${quoted(where)}, not at ${goodSnapshotOf(origin)}`;
      const found = await findGood(origin, log);
      if (found.row === undefined) return `its snapshot ${where} is gone`;
      if (!found.ours) return `${where} is no longer our snapshot of ${origin.vg}/${origin.lv}`;
      return overflowed(found.row, origin, where);
    },
  };
}

/** Snapshots the LV as it is now, replacing an earlier snapshot of ours; returns VG/NAME. */
async function preserve(path: string, size: string | undefined, log: Log): Promise<string> {
  const origin = await resolveOrigin(path, log);
  const full = goodSnapshotOf(origin);
  const found = await findGood(origin, log);
  if (found.row !== undefined && !found.ours) throw notOurs(full, origin);
  if (found.row !== undefined) await lvm("lvremove", ["-f", full], log);
  const args = ["--snapshot", "--permission", "r", "--name", found.name, "--addtag", TAG];
  // A thin snapshot has no size (with one, lvcreate would make a classic snapshot).
  const room = origin.pool === undefined ? sizeArgs(size) : [];
  try {
    await lvm("lvcreate", [...args, ...room, `${origin.vg}/${origin.lv}`], log);
  } catch (e) {
    // lvcreate can fail after the LV exists (activation): leave nothing half-made behind.
    if ((await findGood(origin, log).catch(() => undefined))?.ours) {
      await lvm("lvremove", ["-f", full], log).catch(() => {});
    }
    const free = `${formatBytes(origin.vgFree)} free in ${origin.vg}`;
    throw new BlockferryError(
      "E_SNAPSHOT",
      `cannot keep the good copy of ${origin.vg}/${origin.lv} (a snapshot ${full}${room.length > 0 ? ` of ${room.join(" ")}, ${free}` : ""}): ${(e as Error).message}`,
      { cause: e },
    );
  }
  return full;
}

/** Removes our snapshot at `where`; anything else there is refused. udev may hold it a moment: tried again. */
async function drop(path: string, where: string, log: Log): Promise<void> {
  const origin = await resolveOrigin(path, log);
  expectWhere(where, origin);
  const stillOurs = async () => {
    const found = await findGood(origin, log);
    if (found.row !== undefined && !found.ours) throw notOurs(where, origin);
    return found.row !== undefined;
  };
  if (await stillOurs()) await lvremoveRetried(where, DROP_RETRY_DELAYS_MS, log, stillOurs);
}

/**
 * promote: merges the good snapshot at `where` back into the LV, which then
 * holds the good generation again (the snapshot is gone afterwards). lvm2
 * merges at once only when nothing holds the LV open; otherwise it would
 * defer the merge to the LV's next activation, so an open LV is refused.
 */
export async function restoreLvm(path: string, where: string, log: Log): Promise<void> {
  const origin = await resolveOrigin(path, log);
  expectWhere(where, origin);
  const found = await findGood(origin, log);
  if (found.row === undefined) {
    throw new BlockferryError("E_NOT_FOUND", `${quoted(path)}: its kept good copy ${where} is gone`);
  }
  if (!found.ours) throw notOurs(where, origin);
  const lost = overflowed(found.row, origin, where);
  if (lost !== "") throw new BlockferryError("E_SNAPSHOT", `${quoted(path)}: the kept good copy is lost: ${lost}`);
  await refuseOpen(origin, path, where, log);
  await lvm("lvconvert", ["--merge", "-y", "--interval", "1", where], log);
  await awaitMerged(origin, path, where, log);
}

async function refuseOpen(origin: Origin, path: string, where: string, log: Log): Promise<void> {
  const row = (await lvs(["lv_name", "lv_attr"], `${origin.vg}/${origin.lv}`, log))[0];
  // lv_attr's sixth letter: "o" while a process or a mount holds the device open.
  if (row?.lv_attr[5] === "o") {
    throw new BlockferryError(
      "E_BUSY",
      `${quoted(path)} is open (mounted, or held by a process): LVM can merge its good copy ${where} back only into an LV nothing uses; ` +
        "unmount it or stop what holds it (fuser -vm, lsof), then run promote again; nothing was changed",
    );
  }
}

/**
 * Waits until the snapshot has merged away. A merge that lvm2 deferred to the
 * LV's next activation (the LV was busy a moment) is started by deactivating
 * and activating the LV, which only an LV nothing holds open allows.
 */
async function awaitMerged(origin: Origin, path: string, where: string, log: Log): Promise<void> {
  const lv = `${origin.vg}/${origin.lv}`;
  // While merging, the origin's lv_attr starts with "O" and the snapshot is hidden.
  const pending = async () =>
    (await findGood(origin, log)).row !== undefined || (await lvs(["lv_attr"], lv, log))[0]?.lv_attr[0] === "O";
  if (!(await pending())) return;
  log(`${where}: lvm2 deferred the merge to the next activation of ${lv}: deactivating and activating it`);
  await refuseOpen(origin, path, where, log);
  await lvm("lvchange", ["-an", lv], log);
  await lvm("lvchange", ["-ay", lv], log);
  for (const start = Date.now(); Date.now() - start < MERGE_WAIT_MS; ) {
    if (!(await pending())) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new BlockferryError(
    "E_SNAPSHOT",
    `${quoted(path)}: the merge of ${where} did not finish in ${MERGE_WAIT_MS / 60_000} minutes; see lvs -a ${origin.vg}`,
  );
}
