/**
 * --keep-good on the target: the copy of the last completed sync is
 * preserved (target-types.ts GoodCopyKeeper) before a sync's first write,
 * stays while that sync runs and after it fails, and is dropped only once a
 * sync is verified. A copy half-written by an unfinished sync is never
 * preserved over a good one. So once a first sync has completed, the
 * secondary holds a verified copy at every instant.
 */
import type { CompletedRecord, TargetState } from "./state.js";
import type { OpenedTarget } from "./target-types.js";

type Log = (line: string) => void;

/** What a preserved copy must remember of the sync it holds. */
function completedRecord(s: TargetState): CompletedRecord {
  const { sourceId, sourceSize, blockSize, seed, fingerprint, generation, lastSync, dirs } = s;
  return { sourceId, sourceSize, blockSize, seed, fingerprint, generation, lastSync, dirs };
}

/**
 * Before the first write: `state.good` is the copy this sync may not destroy
 * (preserved now, or kept). Only a volume that is still its last completed
 * sync's copy (`intact`: not written since) is preserved as that sync's; a
 * copy kept earlier stays on record, with or without a keeper now, until a
 * verified sync drops it.
 */
export async function preserveGoodCopy(
  opened: OpenedTarget,
  saved: TargetState | undefined,
  intact: boolean,
  state: TargetState,
  log: Log,
) {
  state.good = saved?.good;
  const keeper = opened.keeper;
  const kept =
    saved?.good === undefined ? "" : `generation ${saved.good.record.generation}, kept at ${saved.good.where}`;
  if (keeper === undefined) {
    if (kept !== "") log(`${opened.describe}: ${kept}, stays on record (this receiver keeps no good copies)`);
    return;
  }
  if (saved?.complete && saved.verified && intact) {
    const where = await keeper.preserve();
    const preservedAt = new Date().toISOString();
    state.good = { method: keeper.method, where, preservedAt, record: completedRecord(saved) };
    log(`${opened.describe}: generation ${saved.generation} kept at ${where} until this sync is verified`);
  } else if (kept !== "") {
    // The sync that did not finish may have filled a classic snapshot before it died.
    if (await checkGoodCopy(opened, state, log)) return;
    const why = saved?.complete ? "is not known to be its last sync's copy" : "holds an unfinished sync";
    log(`${opened.describe}: ${why}; ${kept}, stays the good copy`);
  } else if (saved?.complete) {
    log(
      `${opened.describe}: not known to be its last sync's copy (--force over a volume written since, or one its stamp cannot vouch for, or created anew): no verified copy here to keep while this sync writes it`,
    );
  } else {
    log(`${opened.describe}: no completed sync to keep yet (--keep-good starts with the first one)`);
  }
}

/**
 * Verified now, but a classic snapshot that filled up during the sync left no
 * good copy for a while: said, and recorded (before the record that completes
 * the sync, which a kill may follow).
 */
export async function noteLostDuringSync(opened: OpenedTarget, state: TargetState, log: Log): Promise<void> {
  const good = state.good;
  if (good === undefined || opened.keeper === undefined) return;
  const why = await opened.keeper.lost(good.where).catch(() => "");
  if (why !== "") {
    log(
      `WARNING: ${opened.describe}: the preserved good copy ${good.where} (generation ${good.record.generation}) was LOST during this sync: ${why}; ` +
        "the sync completed, but had it failed there would have been no verified copy here",
    );
    state.lostGood = { at: new Date().toISOString(), why };
  }
}

/** After a verified sync the volume is the good copy: the preserved one goes. */
export async function dropGoodCopy(opened: OpenedTarget, state: TargetState, log: Log): Promise<void> {
  const good = state.good;
  if (good === undefined || opened.keeper === undefined) return;
  try {
    await opened.keeper.drop(good.where);
    state.good = undefined;
  } catch (e) {
    // Kept on record, so that status shows it and the next sync replaces it.
    log(`warning: ${opened.describe}: the preserved copy ${good.where} was not removed: ${(e as Error).message}`);
  }
}

/**
 * After a sync that did not complete: is the preserved copy still whole? A
 * classic snapshot that filled up no longer is: said loudly, and recorded.
 */
export async function checkGoodCopy(opened: OpenedTarget, state: TargetState, log: Log): Promise<boolean> {
  const good = state.good;
  if (good === undefined || opened.keeper === undefined) return false;
  let why: string;
  try {
    why = await opened.keeper.lost(good.where);
  } catch (e) {
    // Not known to be lost (lvs timed out, say): it stays on record, and is checked again next time.
    log(
      `warning: ${opened.describe}: the preserved good copy ${good.where} cannot be checked now: ${(e as Error).message}`,
    );
    return false;
  }
  if (why === "") return false;
  // What is left of it (an invalid snapshot) holds nothing of use and takes room: removed, if it is ours.
  await opened.keeper.drop(good.where).catch(() => {});
  log(
    `WARNING: ${opened.describe}: the preserved good copy ${good.where} (generation ${good.record.generation}) is LOST: ${why}; ` +
      "until a sync completes there is no verified copy here",
  );
  state.good = undefined;
  state.lostGood = { at: new Date().toISOString(), why };
  return true;
}
