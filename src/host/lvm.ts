/**
 * LVM snapshot provider: a read-only snapshot of the origin LV for the time
 * of one sync, made and removed with LVM's command-line tools. A thick LV
 * gets a classic copy-on-write snapshot, a thin LV a thin snapshot.
 *
 * The commands, in order (REPORT is `--noheadings --nosuffix --units b --separator '|'`):
 *
 *   lvs REPORT -o vg_name,lv_name,lv_path,lv_attr,origin,lv_size,segtype,pool_lv,vg_free -- SOURCE
 *     what the source is, thin or not, and the room for a classic snapshot
 *     (then the pid lock LOCK_DIR/lvm-VG-LV.lock is taken)
 *   lvs REPORT -o lv_name,origin,lv_tags -- VG                                is our name taken?
 *   lvremove -f VG/NAME                                     if by our snapshot, left by a run that died
 *   lvcreate --snapshot --permission r --name NAME --addtag blockferry SIZE VG/LV          thick origin
 *     SIZE: -l 100%FREE (the default), -l N%FREE, -l N%ORIGIN, -l N%VG or -L BYTESb; lvm2 cuts
 *     it to the most the snapshot can use (the origin and its exception table), and takes
 *     N%ORIGIN of that
 *   lvcreate --snapshot --permission r --name NAME --addtag blockferry --ignoreactivationskip VG/LV
 *     thin origin: no size (its room is in the pool); lvm2 flags thin snapshots to be skipped
 *     at activation, so without -K it would have no device to read
 *     on failure: the lv_name listing again, and lvremove -f VG/NAME if lvcreate left the LV behind
 *   lvs REPORT -o lv_path,lv_attr,data_percent,lv_size -- VG/NAME             where to read it; checkUsage()
 *     thin origin: the same fields and change tracking's (thin_id, pool_lv, tags...) for every LV of
 *     the VG, -- VG, kept as listedWith: the diff finds its base there (taken before the
 *     post-snapshot hook; a base removed meanwhile makes thin_delta fail: the hash delta)
 *   lvremove -f VG/NAME                                     remove(), which then releases the lock
 *
 * A classic snapshot that runs out of room is invalidated by the kernel: every
 * read of it fails (EIO) from then on, and lvs shows it as "I" (invalid) at
 * 100.00%. A thin snapshot has no room of its own to run out of.
 *
 * NAME is LV-blockferry-snap, and the snapshot is tagged blockferry: the next
 * run recognises (and removes) a snapshot left by a run that died, and never
 * touches an LV of that name that is not ours. The pid lock per origin keeps
 * two runs from racing on that one name.
 *
 * Tried for real by the guest tier (test/guest), on lvm2 2.03.16 and Linux 6.1.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BlockferryError } from "../errors.js";
import { formatBytes, parseSize } from "../units.js";
import { checkString, describe, invalid } from "../validate.js";
import { lvm, lvremoveRetried, lvs } from "./lvm-tools.js";
import { acquirePidLock, type PidLock } from "./pid-lock.js";
import { ToolError } from "./run-tool.js";

const DEFAULT_LOCK_DIR = "/run/blockferry";
const TAG = "blockferry";
const SUFFIX = "-blockferry-snap";
/** LVM refuses longer LV names. */
const NAME_MAX = 127;
const ORIGIN_FIELDS = [
  "vg_name",
  "lv_name",
  "lv_path",
  "lv_attr",
  "origin",
  "lv_size",
  "segtype",
  "pool_lv",
  "vg_free",
] as const;
const LIST_FIELDS = ["lv_name", "origin", "lv_tags"] as const;
const SNAPSHOT_FIELDS = ["lv_path", "lv_attr", "data_percent", "lv_size"] as const;
/** What change tracking reads of each LV in the VG (thin-base.ts): the base and the new snapshot. */
export const THIN_FIELDS = ["lv_name", "origin", "lv_tags", "lv_size", "pool_lv", "thin_id", "segtype"] as const;
export type ThinRow = Record<(typeof THIN_FIELDS)[number], string>;
const THIN_LISTING_FIELDS = [...new Set([...THIN_FIELDS, ...SNAPSHOT_FIELDS])];
const LV_FORMS = "an LVM logical volume (/dev/VG/LV, /dev/mapper/VG-LV or VG/LV)";

export interface SnapshotRequest {
  /** The origin LV as the user gave it: /dev/VG/LV, /dev/mapper/VG-LV or VG/LV. */
  source: string;
  /** undefined: all free extents of the VG; "N%FREE", "N%ORIGIN", "N%VG"; or a size such as "20G". */
  size?: string | undefined;
  log: (line: string) => void;
  /** Where the lock files live (default /run/blockferry). */
  lockDir?: string | undefined;
  /** Waits between attempts when lvremove fails (default 0.5, 1, 2 and 4 s). */
  removeRetryDelaysMs?: readonly number[] | undefined;
}

const REMOVE_RETRY_DELAYS_MS = [500, 1000, 2000, 4000];

export interface LvmSnapshot {
  vg: string;
  origin: string;
  /** LV name of the snapshot */
  name: string;
  /** device path to read the snapshot from (lv_path reported by lvs) */
  devicePath: string;
  /** origin's lv_path, used as the source's identity */
  originPath: string;
  /** A thin snapshot's pool; undefined for a classic one. */
  pool: string | undefined;
  /**
   * A thin snapshot: its VG's LVs as `lvs` listed them right after it was made
   * (the same call that found its device path), so that change tracking finds
   * its base without listing them again. Undefined for a classic one.
   */
  listedWith: readonly ThinRow[] | undefined;
  /** E_SNAPSHOT when the snapshot filled up or is invalid: what was read from it cannot be trusted. */
  checkUsage(): Promise<void>;
  /**
   * What to report for a sync from the snapshot that failed: the kernel fails
   * every read of a classic snapshot that overflowed (EIO), so then that
   * E_SNAPSHOT (with `failure` as its cause); otherwise `failure` itself.
   */
  explain(failure: unknown): Promise<unknown>;
  /** lvremove -f VG/NAME; idempotent, safe to call twice or concurrently; releases the lock. */
  remove(): Promise<void>;
  /** Kept (renamed as the base of change tracking, thin-base.ts): only releases the lock; remove() then does nothing. */
  keep(): void;
}

export interface Origin {
  vg: string;
  lv: string;
  path: string;
  size: number;
  /** A thin LV's pool; undefined for a thick LV. */
  pool: string | undefined;
  /** Bytes free in the volume group. */
  vgFree: number;
}

type Log = (line: string) => void;

export async function takeLvmSnapshot(r: SnapshotRequest): Promise<LvmSnapshot> {
  const source = checkString("source", r.source);
  const sizeArgs = snapshotSizeArgs(r.size);
  const origin = await resolveOrigin(source, r.log);
  const name = snapshotName(origin.lv);
  const full = `${origin.vg}/${origin.lv}`;
  const create = createArgs(origin, name, r.size, sizeArgs);
  const lockPath = join(r.lockDir ?? DEFAULT_LOCK_DIR, lockFileName(origin.vg, origin.lv));
  const lock = acquirePidLock(lockPath, `the snapshot of ${full}`, r.log);
  // lvcreate can fail after the LV exists (activation, udev): leave nothing behind.
  const discard = () =>
    removeIfOurs(origin, name, r.log).catch((e) => r.log(`cannot remove ${origin.vg}/${name}: ${e.message}`));
  try {
    await removeStale(origin, name, r.log);
    await lvm("lvcreate", create, r.log).catch(async (e) => {
      if (!(e instanceof ToolError)) throw e;
      await discard();
      throw new BlockferryError("E_SNAPSHOT", `cannot create a snapshot of ${full}: ${e.message}`, { cause: e });
    });
    const { state, listed } = await stateAfterCreate(origin, name, r.log).catch(async (e) => {
      await discard();
      throw e;
    });
    const room =
      origin.pool === undefined
        ? `${formatBytes(state.size)} for changes`
        : `a thin snapshot, its changes in the pool ${origin.vg}/${origin.pool}`;
    r.log(`snapshot ${origin.vg}/${name} of ${full}: ${room}, read from ${state.path}`);
    const retryDelays = r.removeRetryDelaysMs ?? REMOVE_RETRY_DELAYS_MS;
    return { ...openSnapshot(origin, name, state.path, lock, r.log, retryDelays), listedWith: listed };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/**
 * lvcreate's arguments. A thick origin gets a classic (copy-on-write) snapshot
 * of the size asked for. A thin origin gets a thin snapshot, which takes its
 * room in the pool as blocks change: it has no size of its own (with one,
 * lvcreate would make a classic snapshot instead), and LVM flags it to be
 * skipped at activation, so it is activated regardless.
 */
function createArgs(origin: Origin, name: string, size: string | undefined, sizeArgs: string[]): string[] {
  const full = `${origin.vg}/${origin.lv}`;
  const args = ["--snapshot", "--permission", "r", "--name", name, "--addtag", TAG];
  if (origin.pool !== undefined) {
    if (size !== undefined) {
      const thin = `no size: ${full} is a thin volume, whose snapshot takes its room in the pool ${origin.vg}/${origin.pool}`;
      throw invalid("--snapshot-size", thin, size);
    }
    return [...args, "--ignoreactivationskip", full];
  }
  if (origin.vgFree === 0) {
    // lvcreate itself only says "Calculated size of logical volume is 0 extents".
    throw new BlockferryError(
      "E_SNAPSHOT",
      `cannot create a snapshot of ${full}: the volume group ${origin.vg} has no free space, where a snapshot` +
        " keeps the blocks that change while it is read; free some or add a disk to it (vgextend)",
    );
  }
  return [...args, ...sizeArgs, full];
}

/** lvcreate's size arguments for --snapshot-size (validated before any command runs). */
export function snapshotSizeArgs(size: string | undefined): string[] {
  if (size === undefined) return ["-l", "100%FREE"];
  const expected = "a size such as 20G, or 50%FREE, 100%ORIGIN or 10%VG";
  const percent = /^(\d{1,3})%(FREE|ORIGIN|VG)$/i.exec(size.trim());
  if (percent) {
    const n = Number(percent[1]);
    if (n < 1 || n > 100) throw invalid("--snapshot-size", expected, size);
    return ["-l", `${n}%${(percent[2] ?? "").toUpperCase()}`];
  }
  let bytes: number;
  try {
    bytes = parseSize("--snapshot-size", size);
  } catch {
    throw invalid("--snapshot-size", expected, size);
  }
  // LVM takes byte sizes in whole 512-byte sectors only.
  return ["-L", `${Math.ceil(bytes / 512) * 512}b`];
}

/** LV-blockferry-snap (or LV`suffix`); a long LV name is cut and a hash of it keeps the name distinct and stable. */
export function snapshotName(lv: string, suffix = SUFFIX): string {
  const name = `${lv}${suffix}`;
  if (name.length <= NAME_MAX) return name;
  return `${lv.slice(0, NAME_MAX - suffix.length - 9)}-${hash(lv).slice(0, 8)}${suffix}`;
}

/** lvm-VG-LV.lock, with '-' doubled inside names as device-mapper does, so vg-a/b and vg/a-b differ. */
export function lockFileName(vg: string, lv: string): string {
  const name = `lvm-${vg.replaceAll("-", "--")}-${lv.replaceAll("-", "--")}.lock`;
  return name.length <= 200 ? name : `lvm-${hash(`${vg}/${lv}`).slice(0, 32)}.lock`;
}

export async function resolveOrigin(source: string, log: Log): Promise<Origin> {
  // Every accepted form has a slash; a bare word would name a whole volume group.
  if (!source.includes("/")) throw invalid("source", LV_FORMS, source);
  let rows: Record<(typeof ORIGIN_FIELDS)[number], string>[];
  try {
    rows = await lvs(ORIGIN_FIELDS, source, log);
  } catch (e) {
    if (!(e instanceof ToolError) || e.exitCode === undefined) throw e;
    throw new BlockferryError("E_SNAPSHOT", `source: expected ${LV_FORMS}, got ${describe(source)}: ${e.message}`);
  }
  const row = rows[0];
  if (row === undefined || rows.length > 1) {
    const listed = `lvs lists ${rows.length} logical volumes for it`;
    throw new BlockferryError("E_SNAPSHOT", `source: expected ${LV_FORMS}, got ${describe(source)}: ${listed}`);
  }
  if (row.origin !== "" || row.lv_attr.startsWith("s") || row.lv_attr.startsWith("S")) {
    const what = `a snapshot of ${row.vg_name}/${row.origin}`;
    throw new BlockferryError(
      "E_INVALID_ARG",
      `source: expected ${LV_FORMS} that is not a snapshot, got ${describe(source)}, ${what}`,
    );
  }
  return {
    vg: row.vg_name,
    lv: row.lv_name,
    path: row.lv_path,
    size: Number(row.lv_size),
    pool: row.segtype === "thin" ? row.pool_lv : undefined,
    vgFree: Number(row.vg_free),
  };
}

/** Removes our snapshot left by a run that died; refuses an LV of that name that is not ours. */
async function removeStale(origin: Origin, name: string, log: Log): Promise<void> {
  const found = await findSnapshot(origin, name, log);
  if (found === "absent") return;
  if (found === "foreign") {
    throw new BlockferryError(
      "E_SNAPSHOT",
      `${origin.vg}/${name} exists but is not ours (not a snapshot of ${origin.lv} tagged ${TAG}): not touching it;` +
        " rename or remove it",
    );
  }
  log(`warning: removing the snapshot ${origin.vg}/${name}, left behind by a run that did not finish`);
  await lvm("lvremove", ["-f", `${origin.vg}/${name}`], log);
}

async function removeIfOurs(origin: Origin, name: string, log: Log): Promise<void> {
  if ((await findSnapshot(origin, name, log)) === "ours") await lvm("lvremove", ["-f", `${origin.vg}/${name}`], log);
}

async function findSnapshot(origin: Origin, name: string, log: Log): Promise<"absent" | "ours" | "foreign"> {
  const row = (await lvs(LIST_FIELDS, origin.vg, log)).find((lv) => lv.lv_name === name);
  if (row === undefined) return "absent";
  return row.origin === origin.lv && row.lv_tags.split(",").includes(TAG) ? "ours" : "foreign";
}

function openSnapshot(
  origin: Origin,
  name: string,
  devicePath: string,
  lock: PidLock,
  log: Log,
  retryDelaysMs: readonly number[],
): Omit<LvmSnapshot, "listedWith"> {
  const full = `${origin.vg}/${name}`;
  let removing: Promise<void> | undefined;
  const remove = async () => {
    // Already gone (removed by hand): done all the same.
    const stillThere = async () => (await findSnapshot(origin, name, log)) !== "absent";
    await lvremoveRetried(full, retryDelaysMs, log, stillThere).catch((e: unknown) => {
      throw new BlockferryError("E_SNAPSHOT", `cannot remove the snapshot ${full}: ${(e as Error).message}`, {
        cause: e,
      });
    });
    lock.release();
  };
  const overflowed = async (cause?: unknown) => {
    // A thin snapshot never overflows: its data_percent is the share of it mapped in the pool.
    if (origin.pool !== undefined) return undefined;
    const state = await snapshotState(origin.vg, name, log);
    // "I": invalid (lv_attr's fifth letter); "S" would be a merging snapshot, which ours never is.
    if (state.attr[4] === "I" || state.percent >= 100) {
      return new BlockferryError("E_SNAPSHOT", filledUp(origin, full, state.size), { cause });
    }
    return undefined;
  };
  return {
    vg: origin.vg,
    origin: origin.lv,
    name,
    devicePath,
    originPath: origin.path,
    pool: origin.pool,
    checkUsage: async () => {
      const error = await overflowed();
      if (error !== undefined) throw error;
    },
    // When lvs cannot tell, the failure stands as it is.
    explain: (failure) =>
      overflowed(failure).then(
        (error) => error ?? failure,
        () => failure,
      ),
    keep: () => {
      removing ??= Promise.resolve(lock.release());
    },
    // One removal however many callers; after a failure the next call tries again.
    remove: () => {
      removing ??= remove().catch((e) => {
        removing = undefined;
        throw e;
      });
      return removing;
    },
  };
}

interface SnapshotState {
  path: string;
  attr: string;
  /** data_percent: how full its room for changes is */
  percent: number;
  /** bytes of room for changes */
  size: number;
}

async function snapshotState(vg: string, name: string, log: Log): Promise<SnapshotState> {
  return stateOf((await lvs(SNAPSHOT_FIELDS, `${vg}/${name}`, log))[0], vg, name);
}

/** The new snapshot's state; a thin one's found in a listing of its whole VG, kept for change tracking. */
async function stateAfterCreate(origin: Origin, name: string, log: Log) {
  if (origin.pool === undefined) return { state: await snapshotState(origin.vg, name, log), listed: undefined };
  const listed = await lvs(THIN_LISTING_FIELDS, origin.vg, log);
  return {
    state: stateOf(
      listed.find((lv) => lv.lv_name === name),
      origin.vg,
      name,
    ),
    listed,
  };
}

function stateOf(row: Record<(typeof SNAPSHOT_FIELDS)[number], string> | undefined, vg: string, name: string) {
  if (row === undefined) throw new BlockferryError("E_SNAPSHOT", `the snapshot ${vg}/${name} is gone`);
  const percent = row.data_percent === "" ? 0 : Number.parseFloat(row.data_percent);
  return { path: row.lv_path, attr: row.lv_attr, percent, size: Number(row.lv_size) };
}

function filledUp(origin: Origin, full: string, size: number): string {
  // Twice the room, or as much as the origin (which can never fill up).
  const next = 2 * size >= origin.size ? "100%ORIGIN" : roundedSize(2 * size);
  return (
    `the snapshot ${full} filled up (${formatBytes(size)} of changes to ${origin.vg}/${origin.lv} while it was read)` +
    ` and is invalid: what was read from it cannot be trusted; give --snapshot-size ${next} next time` +
    ` (with that much free space in ${origin.vg})`
  );
}

function roundedSize(bytes: number): string {
  return bytes >= 2 ** 30 ? `${Math.ceil(bytes / 2 ** 30)}G` : `${Math.ceil(bytes / 2 ** 20)}M`;
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
