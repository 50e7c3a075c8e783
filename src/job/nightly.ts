/**
 * The whole nightly job around one sync: pre-snapshot hook, LVM snapshot,
 * post-snapshot hook, the sync from the snapshot (its directories after the
 * copy is confirmed), then the snapshot's removal, on every path: success,
 * failure, or SIGINT/SIGTERM (the caller's abort signal). A thin snapshot of
 * a verified sync is kept instead, as the base of the next night's change
 * tracking (change-tracking.ts).
 *
 * Hooks bracket the moment the point-in-time image is taken: with a snapshot,
 * the post hook runs as soon as it exists (the service is stopped for seconds,
 * not for the copy); without one, it runs after the copy. If the pre hook or
 * the snapshot fails, the post hook still runs (it restarts what the pre hook
 * stopped).
 */
import { hostname } from "node:os";
import { BlockferryError } from "../errors.js";
import { type LvmSnapshot, takeLvmSnapshot } from "../host/lvm.js";
import { keepBase, type Tracking, trackChanges } from "./change-tracking.js";
import { runHook } from "./hooks.js";
import { recordSource } from "./source-record.js";
import { runSync, type SyncJobOptions, type SyncOutcome } from "./sync.js";

export interface NightlyOptions extends SyncJobOptions {
  snapshot: "lvm" | "none";
  /** Snapshot size: a size, N%FREE, N%ORIGIN or N%VG; undefined: all free space of the volume group. */
  snapshotSize: string | undefined;
  preSnapshot: string | undefined;
  postSnapshot: string | undefined;
  hookTimeoutMs: number;
  /** Where LVM snapshot locks live (tests). */
  lockDir?: string | undefined;
  /** Aborted on SIGINT/SIGTERM: the job stops and cleans up. */
  signal: AbortSignal;
  /** DEST as the user named it (recorded with the source, for the refusal's message). */
  destinationName: string;
}

/** The sync's outcome, the snapshot the copy was read from, and where it was kept as the base of change tracking. */
export type NightlyOutcome = SyncOutcome & { snapshot: string | undefined; keptAs: string | undefined };

export async function runNightly(o: NightlyOptions): Promise<NightlyOutcome> {
  const env = { BLOCKFERRY_SOURCE: o.source };
  // A signal stops the pre hook; the post hook runs to the end whatever happens (it restarts the service).
  const hook = (name: "pre-snapshot" | "post-snapshot", command: string | undefined) =>
    command === undefined
      ? Promise.resolve()
      : runHook(name, command, {
          timeoutMs: o.hookTimeoutMs,
          env,
          log: o.log,
          ...(name === "pre-snapshot" ? { signal: o.signal } : {}),
        });
  let postDone = false;
  const post = async () => {
    if (postDone) return;
    postDone = true;
    await hook("post-snapshot", o.postSnapshot);
  };
  const stopIfAborted = () => {
    if (o.signal.aborted) throw interrupted();
  };
  let snapshot: LvmSnapshot | undefined;
  let tracking: Tracking | undefined;
  let keptAs: string | undefined;
  let outcome: SyncOutcome | undefined;
  let failure: unknown;
  try {
    stopIfAborted();
    await hook("pre-snapshot", o.preSnapshot);
    stopIfAborted();
    if (o.snapshot === "lvm") {
      snapshot = await takeLvmSnapshot({ source: o.source, size: o.snapshotSize, log: o.log, lockDir: o.lockDir });
      await post();
      tracking = await trackChanges(o, snapshot);
    }
    stopIfAborted();
    outcome = await runSync({
      ...o,
      source: snapshot?.devicePath ?? o.source,
      // The origin names the copy: each night's snapshot is another device of the same volume.
      sourceId: snapshot === undefined ? o.sourceId : `${hostname()}:${snapshot.originPath}`,
      // A snapshot that overflowed no longer holds what was read: no END, the target stays incomplete.
      beforeEnd: snapshot === undefined ? o.beforeEnd : () => (snapshot as LvmSnapshot).checkUsage(),
      changes: tracking?.changes,
    });
    // A thin snapshot of a verified sync is kept: the next night diffs against it.
    if (snapshot !== undefined && tracking?.thin) keptAs = await keepBase(o, snapshot, outcome);
  } catch (e) {
    // A classic snapshot that overflowed fails every read: report that, not the EIO.
    failure = snapshot === undefined ? e : await snapshot.explain(e);
  }
  try {
    await post();
  } catch (e) {
    failure ??= e;
  }
  if (snapshot !== undefined) {
    try {
      await snapshot.remove();
    } catch (e) {
      o.log(`cannot remove the snapshot ${snapshot.vg}/${snapshot.name}: ${(e as Error).message}`);
      failure ??= e;
    }
  }
  // A signal that came once the job had done everything (during the snapshot's removal) changes nothing.
  if (o.signal.aborted && (failure !== undefined || outcome === undefined)) throw interrupted(failure);
  if (failure !== undefined) throw failure;
  if (outcome === undefined) throw new BlockferryError("E_INTERNAL", "the sync ended without an outcome");
  // This host's volume is a source now: a sync pointed the wrong way will not overwrite it.
  if (outcome.direction === "push" && !o.dryRun) await recordSource(o.stateDir, o.source, o.destinationName, o.log);
  return { ...outcome, snapshot: snapshot === undefined ? undefined : `${snapshot.vg}/${snapshot.name}`, keptAs };
}

function interrupted(cause?: unknown): BlockferryError {
  return new BlockferryError(
    "E_INTERRUPTED",
    "interrupted by a signal: stopped, cleaned up; a target already being written stays marked incomplete",
    { cause },
  );
}
