/**
 * What a target remembers about its copy between runs, kept beside the
 * volume (never inside it). A copy is complete only once verified; until then
 * `blocksDone` and `fingerprint` let an interrupted copy resume.
 */
export interface TargetState {
  version: 1;
  complete: boolean;
  verified: boolean;
  /** How the last run wrote: a copy (resumable from blocksDone) or a comparison (run again from 0). */
  mode: "copy" | "compare";
  sourceId: string;
  /** The target volume this state is about (see src/job/identity.ts). */
  targetId: string;
  sourceSize: number;
  blockSize: number;
  /** Digest seed of the copy, decimal (a 64-bit value). */
  seed: string;
  /** Blocks [0, blocksDone) are written and synced. */
  blocksDone: number;
  /** Fingerprint of blocks [0, blocksDone), hex (of the whole copy once complete). */
  fingerprint: string;
  /**
   * Counts completed syncs of this target: a source's digest cache is used
   * only for the generation it was made for (0: none completed yet).
   */
  generation: number;
  /** The volume's change stamp when the last sync completed (see src/job/identity.ts). */
  stamp?: string | undefined;
  /**
   * An interrupted copy: the volume's change stamp once its last writes were
   * done and synced. A resume trusts blocks [0, blocksDone) without reading
   * them only while the stamp is still this; otherwise it reads them again.
   */
  pausedStamp?: string | undefined;
  startedAt: string;
  updatedAt: string;
  completedAt?: string;
  /** The last sync that completed, kept while later ones run (for `blockferry status`). */
  lastSync?: LastSync | undefined;
  /** --with-dir: the directories placed here after the last completed sync. */
  dirs?: PlacedDir[] | undefined;
  /** The receiving process while a sync runs (status tells a running sync from an interrupted one). */
  writerPid?: number | undefined;
  /**
   * --keep-good: the copy of the last completed sync, preserved before this
   * sync's first write and dropped once a sync is verified. While the main
   * copy is mid-sync (or a sync failed), this is the good copy.
   */
  good?: GoodCopy | undefined;
  /** When `blockferry promote` made this copy the primary: syncs into it are refused (E_PROMOTED) unless forced. */
  promotedAt?: string | undefined;
  /** A preserved copy found broken (a classic snapshot that filled up during a sync): when, and why. */
  lostGood?: { at: string; why: string } | undefined;
}

/** What a completed sync left: enough to make a preserved copy the main one again. */
export interface CompletedRecord {
  sourceId: string;
  sourceSize: number;
  blockSize: number;
  seed: string;
  fingerprint: string;
  generation: number;
  lastSync?: LastSync | undefined;
  dirs?: PlacedDir[] | undefined;
}

export interface GoodCopy {
  /** A reflink clone of an image file, or an LVM snapshot of a logical volume. */
  method: "reflink" | "lvm";
  /** The clone's path, or the snapshot's VG/LV. */
  where: string;
  preservedAt: string;
  record: CompletedRecord;
}

/**
 * How a sync found what to send. copy: everything sent; compare: the target's
 * digests; cached: the source's digest cache; tracked: the cache, for only the
 * blocks the source's storage listed as changed (thin_delta).
 */
export type SyncMode = "copy" | "compare" | "cached" | "tracked";

export interface LastSync {
  at: string;
  sourceId: string;
  generation: number;
  /** A tracked sync is recorded as "cached" with `tracked` set: a record an older blockferry still reads. */
  mode: "copy" | "compare" | "cached";
  /** The changes were listed by the source's change tracking (thin_delta). */
  tracked?: true;
  seconds: number;
  /** Bytes that crossed the connection: from the source, and back to it (digests, acknowledgements). */
  bytesIn: number;
  bytesOut: number;
  /** The copy was re-read from disk and its fingerprint checked (--verify, --paranoid). */
  reread: boolean;
}

export interface PlacedDir {
  path: string;
  at: string;
  entries: number;
  bytes: number;
}

export interface TargetStateStore {
  /** The saved state; undefined when there is none (or it is unreadable, after a warning). */
  load(): Promise<TargetState | undefined>;
  /** Saves atomically and durably. */
  save(state: TargetState): Promise<void>;
  readonly path: string;
}
