/**
 * What the target finds out before it plans a sync (target-plan.ts decides
 * from it): its saved state, its volume's change stamp taken before anything
 * here touched it, whether it holds data, whether an image can grow to the
 * source's size, and whether an interrupted copy's part is still intact.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readdir, realpath, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BlockferryError } from "../errors.js";
import type { Volume } from "../native/index.js";
import { type Hello, MAX_BLOCKS_BYTES } from "../protocol/messages.js";
import { fingerprintVolume, holdsRecordedCopy } from "./fingerprint.js";
import type { TargetState } from "./state.js";
import type { TransferStats } from "./stats.js";
import { planTarget, resumable, type TargetPlan } from "./target-plan.js";
import type { OpenedTarget } from "./target-types.js";

export async function planFor(
  hello: Hello,
  opened: OpenedTarget,
  stats: TransferStats,
  log: (line: string) => void,
): Promise<{ plan: TargetPlan; saved: TargetState | undefined }> {
  const { volume } = opened;
  // Taken before anything here could touch the volume (growing an image does).
  const stamp = await opened.stamp();
  const saved = await opened.state.load();
  const savedIntact = await recordHolds(saved, opened, hello.flags.force === true, stats, log);
  await probeGrowth(opened, hello.sourceSize, hello.flags.dryRun);
  const prefixIntact =
    saved !== undefined && resumable(saved, hello, opened.identity, volume.size)
      ? await checkPrefix(saved, stamp, opened, stats, log)
      : false;
  const plan = planTarget(hello, {
    saved,
    identity: opened.identity,
    volumeSize: volume.size,
    stamp,
    holdsData: await holdsData(volume, hello.sourceSize),
    prefixIntact,
    savedIntact,
    freshSeed: randomBytes(8).readBigUInt64BE(),
  });
  return { plan, saved };
}

/**
 * A standby that took over must never be overwritten by the old primary's
 * next sync, nor a copy swapped in by mistake: a target promoted to primary,
 * or whose last sync completed and which was written since (its change
 * stamp moved), is refused before anything is written, unless forced. Where
 * the stamp cannot tell (a device's host rebooted), the copy is read and its
 * fingerprint compared with the one recorded. Returns whether the record of
 * a completed sync still describes the volume (only then may --keep-good
 * keep it as that sync's copy); forced, a copy the stamp cannot vouch for is
 * not read: it is not kept.
 */
async function recordHolds(
  saved: TargetState | undefined,
  opened: OpenedTarget,
  force: boolean,
  stats: TransferStats,
  log: (line: string) => void,
): Promise<boolean> {
  // An image this run created holds nothing: its record is of one deleted since. (Identities are
  // not compared: a device's can change with a reboot, while what it holds does not.)
  if (opened.created) return false;
  const ways = "sync the other way to keep what it holds (failback, see the README), or pass --force to discard it";
  if (saved?.promotedAt !== undefined && !force) {
    throw new BlockferryError(
      "E_PROMOTED",
      `target ${opened.describe} was promoted at ${saved.promotedAt} and serves as the primary: a sync into it would overwrite that; ${ways}`,
    );
  }
  if (saved === undefined || !saved.complete || !saved.verified) return false;
  let written = await writtenSince(saved.stamp, opened);
  // Still on record: the receiver stopped while removing it (good-copy.ts), which may have moved the stamp.
  if (written === "yes" && saved.good !== undefined) {
    if (force) return false;
    log(`${opened.describe}: its record still names the preserved copy ${saved.good.where}: reading it to check`);
    written = "unknown";
  } else if (written === "unknown") {
    if (force) return false;
    log(
      `${opened.describe}: cannot tell from its change stamp whether it was written since its last sync: reading it to check`,
    );
  }
  if (written === "unknown") written = (await holdsRecordedCopy(opened.volume, saved, stats)) ? "no" : "yes";
  if (written === "yes" && !force) {
    const since = saved.lastSync?.at ?? saved.updatedAt;
    throw new BlockferryError(
      "E_DIVERGED",
      `target ${opened.describe} was written since its last sync at ${since} (mounted read-write, or a standby that took over): it holds data the source does not; ${ways}`,
    );
  }
  return written === "no";
}

async function writtenSince(recorded: string | undefined, opened: OpenedTarget): Promise<"no" | "yes" | "unknown"> {
  if (opened.writtenSince !== undefined) return opened.writtenSince(recorded);
  const now = await opened.stamp();
  if (recorded === undefined || now === undefined) return "unknown";
  return now === recorded ? "no" : "yes";
}

/**
 * Whether blocks [0, blocksDone) of an interrupted copy still hold what was
 * acknowledged: certain without reading when the volume's stamp is the one
 * taken after the copy's last write; otherwise they are read again and their
 * fingerprint compared (a receiver killed outright leaves no stamp; a mount
 * of the half-written copy, even read-only, can replay a journal into it).
 */
async function checkPrefix(
  saved: TargetState,
  stampNow: string | undefined,
  opened: OpenedTarget,
  stats: TransferStats,
  log: (line: string) => void,
): Promise<boolean> {
  if (stampNow !== undefined && saved.pausedStamp === stampNow) return true;
  const end = Math.min(saved.blocksDone * saved.blockSize, saved.sourceSize);
  log(`${opened.describe}: reading the ${end} bytes copied before the interruption again, to check them`);
  const batchBytes = Math.max(MAX_BLOCKS_BYTES, saved.blockSize);
  const sum = await fingerprintVolume(opened.volume, end, saved.blockSize, BigInt(saved.seed), stats, batchBytes);
  if (sum.hex === saved.fingerprint) return true;
  log(`${opened.describe}: the part copied before the interruption changed since; comparing from the start`);
  return false;
}

/** Whether the target holds anything worth comparing: a block device, or an image with data. */
async function holdsData(volume: Volume, sourceSize: number): Promise<boolean> {
  if (volume.info.isBlockDevice) return true;
  const span = Math.min(volume.size, sourceSize);
  return span > 0 && (await volume.dataExtents(0, span, 1)).extents.length > 0;
}

/**
 * An image file must be able to reach the source's size before anything is
 * promised (a dry run promises nothing). A scratch file beside it, on its
 * filesystem, is grown, not the image: growing and shrinking the image would
 * move its change stamp while its record still vouches for it, and a sync
 * that then stopped before its first save would leave it refused as written
 * since. Where no such file can be made, the image itself is grown and put back.
 */
async function probeGrowth(opened: OpenedTarget, size: number, dryRun: boolean): Promise<void> {
  const { volume } = opened;
  if (volume.info.isBlockDevice || size <= volume.size || dryRun) return;
  const scratch = await scratchBeside(volume.info.path);
  try {
    if (scratch === undefined) await growAndRestore(volume, size);
    else await scratch.handle.truncate(size);
  } catch (e) {
    throw new BlockferryError(
      "E_TARGET_TOO_SMALL",
      `target ${opened.describe} cannot grow to ${size} bytes: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    await scratch?.handle.close();
    if (scratch !== undefined) await rm(scratch.path, { force: true });
  }
}

const PROBE = ".blockferry-grow-probe.";

/** A new empty file in the image's own directory (symlinks resolved) and filesystem; probes a kill left are removed. */
async function scratchBeside(image: string): Promise<{ path: string; handle: FileHandle } | undefined> {
  const real = await realpath(image).catch(() => image);
  const [dir, base] = [dirname(real), basename(real)];
  const prefix = `${base}${PROBE}`;
  const stale = (name: string) => name.startsWith(prefix) && /^[0-9a-f]{12}$/.test(name.slice(prefix.length));
  for (const name of await readdir(dir).catch(() => [])) {
    if (stale(name)) await rm(join(dir, name), { force: true });
  }
  const path = join(dir, `${prefix}${randomBytes(6).toString("hex")}`);
  // "wx": never an existing file, nor a symlink's target.
  const handle = await open(path, "wx").catch(() => undefined);
  if (handle === undefined) return undefined;
  const [mine, its] = await Promise.all([handle.stat(), stat(real)]);
  if (mine.dev === its.dev) return { path, handle };
  await handle.close();
  await rm(path, { force: true });
  return undefined;
}

async function growAndRestore(volume: Volume, size: number): Promise<void> {
  const original = volume.size;
  try {
    await volume.setSize(size);
  } finally {
    await volume.setSize(original).catch(() => {});
  }
}
