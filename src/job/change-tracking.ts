/**
 * Change tracking around a nightly sync from a thin snapshot: before it, the
 * diff since the base snapshot kept for this destination (thin_delta); after
 * a verified sync, the snapshot read becomes the new base. Anything that
 * keeps the diff from being trusted falls back to the hash delta, with one
 * line saying why; the sync's own checks (the digest cache, the target's
 * record and change stamp) decide the rest (engine/source-tracked.ts).
 */
import type { TrackedChanges } from "../engine/source-types.js";
import type { LvmSnapshot } from "../host/lvm.js";
import { diffSinceBase, keepAsBase } from "../host/thin-base.js";
import { destinationKey } from "./digest-caches.js";
import type { SyncJobOptions, SyncOutcome } from "./sync-types.js";
import { syncFacts } from "./sync-types.js";

export interface Tracking {
  /** A thin snapshot: kept as the base after a verified sync. */
  thin: boolean;
  changes: TrackedChanges | undefined;
}

const DEFAULT_LOCK_DIR = "/run/blockferry";

export async function trackChanges(
  o: SyncJobOptions & { lockDir?: string | undefined },
  snapshot: LvmSnapshot,
): Promise<Tracking> {
  if (snapshot.pool === undefined) return { thin: false, changes: undefined };
  const fallback = (why: string): Tracking => {
    o.log(`change tracking not used: ${why}; comparing every block (hash delta)`);
    return { thin: true, changes: undefined };
  };
  if (o.full) return fallback("--full copies everything");
  if (!o.readCache) return fallback("the digest cache is not read (--no-cache or --paranoid)");
  try {
    const key = destinationKey(o.destination);
    const diff = await diffSinceBase(snapshot, key, o.lockDir ?? DEFAULT_LOCK_DIR, o.log);
    o.log(`change tracking: thin_delta diffed ${snapshot.vg}/${snapshot.origin} in ${diff.diffSeconds.toFixed(2)} s`);
    return { thin: true, changes: diff };
  } catch (e) {
    return fallback((e as Error).message);
  }
}

/** After a verified sync: the snapshot read becomes the destination's base. A failure only costs the next run time. */
export async function keepBase(
  o: SyncJobOptions,
  snapshot: LvmSnapshot,
  outcome: SyncOutcome,
): Promise<string | undefined> {
  if (o.dryRun) return undefined;
  try {
    return await keepAsBase(snapshot, destinationKey(o.destination), syncFacts(outcome).fingerprint, o.log);
  } catch (e) {
    o.log(`warning: the snapshot is not kept for change tracking: ${(e as Error).message}`);
    return undefined;
  }
}
