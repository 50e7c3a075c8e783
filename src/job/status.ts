/**
 * What a target's state file says about its copy, for `blockferry status` on
 * the secondary: found beside an image file, or for a block device in the
 * state directory by the volume's identity (whatever name it was written under).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { TargetState } from "../engine/state.js";
import { BlockferryError, fromFsError } from "../errors.js";
import { deviceNumber } from "../host/device-number.js";
import { quoted } from "../printable.js";
import { volumeIdentityAt, writtenSince } from "./identity.js";
import { reflinkKeeper } from "./keep-good.js";
import { lvmKeeper } from "./keep-good-lvm.js";
import { FileStateStore } from "./state-file.js";

export interface TargetStatus {
  target: string;
  stateFile: string | undefined;
  /** The copy is whole and its fingerprint matched the source's. */
  complete: boolean;
  /** A sync started (since the last completed one, if any) and stopped before it completed. */
  interrupted: boolean;
  generation: number;
  lastSync: TargetState["lastSync"];
  dirs: NonNullable<TargetState["dirs"]>;
  /** Seconds since the last completed sync (undefined: never completed). */
  ageSeconds: number | undefined;
  /** The receiving process of a sync running now, if one is. */
  runningPid: number | undefined;
  /**
   * Whether the volume was written since the last sync completed (mounted
   * read-write, changed outside blockferry): compared with the change stamp
   * recorded then. "unknown" when a device's host rebooted since (its write
   * counters start again); "unrecorded" when the state holds no stamp, so
   * nothing vouches for the volume (a state file not written by a completed
   * sync of this blockferry).
   */
  writtenSince: "no" | "yes" | "unknown" | "unrecorded";
  /** --keep-good: the copy of the last completed sync, kept while a later one writes the volume (or after it failed). */
  good:
    | {
        method: string;
        where: string;
        generation: number;
        lastSync: TargetState["lastSync"];
        /** Why the kept copy no longer holds that generation (a classic snapshot that filled up, or gone), if so. */
        lost?: string | undefined;
      }
    | undefined;
  /** A preserved copy found broken (a classic snapshot that filled up): the good copy was lost then. */
  lostGood: TargetState["lostGood"];
  /** Promoted to serve as the primary (`blockferry promote`), and when. */
  promotedAt: string | undefined;
}

/**
 * The status of the target at `path`. E_NOT_FOUND when there is no volume
 * there, or no state of a sync to it (saying where it looked): only a volume
 * with a record can be judged complete or not.
 */
export async function targetStatus(path: string, stateDir: string, log: (line: string) => void): Promise<TargetStatus> {
  const found = await findState(path, stateDir, log);
  const state = found.state;
  const completedAt = state?.lastSync?.at ?? state?.completedAt;
  const pid = state?.writerPid;
  const runningPid = pid !== undefined && !state?.complete && (await writing(path, pid)) ? pid : undefined;
  return {
    target: path,
    stateFile: found.path,
    complete: state?.complete === true && state.verified,
    interrupted: state !== undefined && !state.complete && runningPid === undefined,
    generation: state?.generation ?? 0,
    lastSync: state?.lastSync,
    dirs: state?.dirs ?? [],
    ageSeconds: completedAt === undefined ? undefined : (Date.now() - Date.parse(completedAt)) / 1000,
    runningPid,
    writtenSince: !state?.complete
      ? "unknown"
      : state.stamp === undefined
        ? "unrecorded"
        : await writtenSince(path, state.stamp),
    good:
      state.good === undefined
        ? undefined
        : {
            method: state.good.method,
            where: state.good.where,
            generation: state.good.record.generation,
            lastSync: state.good.record.lastSync,
            lost: await keptCopyLost(path, state.good),
          },
    lostGood: state.lostGood,
    promotedAt: state.promotedAt,
  };
}

/**
 * Is `pid` writing the target now? It must be alive, and for an image file
 * hold its lock (/proc/locks): a receiver that lives on after a failed sync
 * whose state it could not update (a full filesystem) is not writing.
 */
async function writing(path: string, pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const st = await stat(path).catch(() => undefined);
  if (st === undefined || st.isBlockDevice()) return st !== undefined;
  const { major, minor } = deviceNumber(st.dev);
  const locks = await readFile("/proc/locks", "utf8").catch(() => "");
  // "1: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF": pid, then device (hex) and inode.
  return locks.split("\n").some((line) => {
    const f = line.trim().split(/\s+/);
    const [maj, min, ino] = (f[5] ?? "").split(":");
    return (
      f[1] === "FLOCK" &&
      Number(f[4]) === pid &&
      Number.parseInt(maj ?? "", 16) === major &&
      Number.parseInt(min ?? "", 16) === minor &&
      Number(ino) === st.ino
    );
  });
}

/**
 * The state of the volume at `path`: beside an image file, or for a block
 * device the newest in the state directory whose recorded identity is this
 * volume's. A state that names another volume (the image replaced, a file
 * copied in) is not this volume's record.
 */
export async function findState(
  path: string,
  stateDir: string,
  log: (line: string) => void,
): Promise<{ path: string; state: TargetState }> {
  const info = await stat(path).catch((e: unknown) => {
    throw fromFsError(e, `status: no volume at ${quoted(path)} (expected a target's block device or image file)`);
  });
  const identity = await volumeIdentityAt(path);
  const files = info.isBlockDevice()
    ? (await readdir(stateDir).catch(() => [] as string[]))
        .filter((n) => n.endsWith(".state.json"))
        .map((n) => join(stateDir, n))
    : [`${path}.blockferry-state.json`];
  let best: { path: string; state: TargetState } | undefined;
  for (const file of files) {
    const state = await new FileStateStore(file, log).load();
    if (state === undefined) continue;
    if (state.targetId !== identity) {
      if (!info.isBlockDevice())
        log(`state file ${quoted(file)} records another volume (${state.targetId}, this one is ${identity}): ignored`);
      continue;
    }
    if (best === undefined || state.updatedAt > best.state.updatedAt) best = { path: file, state };
  }
  if (best !== undefined) return best;
  const where = info.isBlockDevice() ? `in ${quoted(stateDir)} (--state-dir)` : `at ${quoted(files[0] ?? "")}`;
  throw new BlockferryError(
    "E_NOT_FOUND",
    `status: no record of a sync to ${quoted(path)} ${where}: blockferry never wrote this volume, or its state is elsewhere`,
  );
}

/** Looked at, not taken from the record: a sync killed mid-way cannot record that its classic snapshot filled up. */
async function keptCopyLost(path: string, good: NonNullable<TargetState["good"]>) {
  // The lvs command lines are not what status is asked for: not printed.
  const keeper = good.method === "lvm" ? lvmKeeper(path, undefined, () => {}) : reflinkKeeper(path);
  const why = await keeper.lost(good.where).catch((e: unknown) => `cannot be checked: ${(e as Error).message}`);
  return why === "" ? undefined : why;
}
