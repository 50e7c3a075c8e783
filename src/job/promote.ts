/**
 * `blockferry promote TARGET`, on the secondary when the primary is lost:
 * the copy becomes the primary's. A complete copy is taken as it is; after a
 * sync that did not finish, the good copy kept by --keep-good is made the
 * volume again. Either way the target is then recorded as promoted, so that
 * no sync writes into it (the old primary's nightly run included) until one
 * is forced: failback goes the other way.
 */
import { stat } from "node:fs/promises";
import { holdsRecordedCopy } from "../engine/fingerprint.js";
import type { CompletedRecord, TargetState } from "../engine/state.js";
import { TransferStats } from "../engine/stats.js";
import { BlockferryError } from "../errors.js";
import { openVolume } from "../native/index.js";
import { quoted } from "../printable.js";
import { changeStamp, volumeIdentityAt } from "./identity.js";
import { restoreReflink } from "./keep-good.js";
import { restoreLvm } from "./keep-good-lvm.js";
import { FileStateStore } from "./state-file.js";
import { findState, targetStatus } from "./status.js";

export interface Promoted {
  target: string;
  /** The kept good copy was made the volume (the last sync had not finished). */
  restored: boolean;
  /** Already promoted before: nothing was changed. */
  already: boolean;
  state: TargetState;
}

type Log = (line: string) => void;

export async function promote(path: string, stateDir: string, log: Log): Promise<Promoted> {
  const status = await targetStatus(path, stateDir, log);
  const found = await findState(path, stateDir, log);
  const state = found.state;
  const store = new FileStateStore(found.path, log);
  if (state.promotedAt !== undefined) return { target: path, restored: false, already: true, state };
  if (status.runningPid !== undefined) {
    throw new BlockferryError(
      "E_BUSY",
      `${quoted(path)}: a sync is writing it now (receiver pid ${status.runningPid}); stop the receiver first (systemctl stop blockferry-serve)`,
    );
  }
  let restored = false;
  if (!(state.complete && state.verified)) {
    const good = state.good;
    if (good === undefined) {
      const lost =
        state.lostGood === undefined
          ? ""
          : ` (the kept good copy was lost at ${state.lostGood.at}: ${state.lostGood.why})`;
      throw new BlockferryError(
        "E_INCOMPLETE",
        `${quoted(path)}: the last sync did not finish and no good copy was kept${lost}: there is no verified copy here to promote; its data can still be read to rescue files`,
      );
    }
    log(
      `${path}: the last sync did not finish: making the good copy of generation ${good.record.generation} the volume`,
    );
    await restoreGood(path, good.method, good.where, log).catch(async (e: unknown) => {
      if ((e as BlockferryError).code !== "E_NOT_FOUND" || !(await holdsRecord(path, good.record, log))) throw e;
    });
    Object.assign(state, completeFrom(good.record));
    state.good = undefined;
    restored = true;
  }
  // The restored volume may be another device to the kernel (a thin merge is a reactivation):
  // recorded as it is now, so that the next sync still trusts the record and its digest cache.
  if (restored) state.targetId = await volumeIdentityAt(path);
  state.stamp = await changeStamp(path, true);
  state.writerPid = undefined;
  state.promotedAt = new Date().toISOString();
  state.updatedAt = state.promotedAt;
  await store.save(state);
  return { target: path, restored, already: false, state };
}

/** The state of a complete, verified copy, as the kept one recorded it. */
function completeFrom(r: CompletedRecord): Partial<TargetState> {
  const blocksDone = Math.ceil(r.sourceSize / r.blockSize);
  const completedAt = r.lastSync === undefined ? {} : { completedAt: r.lastSync.at };
  return { ...r, complete: true, verified: true, mode: "copy", blocksDone, ...completedAt };
}

/**
 * A kept copy that is gone, where the volume already holds what it held: a
 * promote stopped after the restore (an LVM merge uses the snapshot up)
 * and before its record was saved. Read whole to be sure.
 */
async function holdsRecord(path: string, r: CompletedRecord, log: Log): Promise<boolean> {
  log(
    `${path}: its kept good copy is gone; reading the volume to see whether it already holds generation ${r.generation}`,
  );
  const volume = await openVolume(path);
  try {
    if (!(await holdsRecordedCopy(volume, r, new TransferStats()))) return false;
  } finally {
    await volume.close();
  }
  log(`${path}: it does (a promote that stopped after restoring it): finishing the promotion`);
  return true;
}

async function restoreGood(path: string, method: "reflink" | "lvm", where: string, log: Log): Promise<void> {
  if (method === "reflink") {
    const info = await stat(where).catch(() => undefined);
    if (info === undefined) {
      throw new BlockferryError("E_NOT_FOUND", `${quoted(path)}: its kept good copy ${quoted(where)} is gone`);
    }
    await restoreReflink(path, where);
    return;
  }
  await restoreLvm(path, where, log);
}
