/** What the source role is given and what it returns (source.ts, source-session.ts). */

import type { ThinDelta } from "../host/thin-delta.js";
import type { Volume } from "../native/index.js";
import type { FrameChannel } from "../protocol/frames.js";
import type { DigestCacheStore } from "./digest-cache.js";
import type { DirReport, DirSpec } from "./dir-transfer.js";
import type { RateLimiter } from "./rate-limit.js";
import type { TransferStats } from "./stats.js";

export interface SourceOptions {
  volume: Volume;
  channel: FrameChannel;
  targetName: string;
  /** Identifies the source volume to the target, so a resume continues the same copy. */
  sourceId: string;
  blockSize: number;
  compress?: boolean;
  /** Copy everything from block 0, ignoring an interrupted copy's progress. */
  full?: boolean;
  /** Ask the target to re-read the copy from disk before it reports success. */
  verify?: boolean;
  /** Compare and count what would be sent; send and change nothing. */
  dryRun?: boolean;
  /** Write a target that was written since its last sync, or promoted (its data is lost). */
  force?: boolean;
  /** Paces the wire (--bwlimit). */
  rateLimiter?: RateLimiter | undefined;
  /** Paces reads of the source's disk (--read-limit), which BackupPC is using too. */
  readLimiter?: RateLimiter | undefined;
  /**
   * The digests of what the target holds, kept from the last sync: offered to
   * the target (unless `readCache` is false) and rewritten after a verified one.
   */
  cache?: DigestCacheStore | undefined;
  readCache?: boolean;
  /**
   * Syncs in a row that may use the cache; the next has the target read its
   * whole copy again (lost writes, bit rot at rest). Default 6.
   */
  cacheRuns?: number;
  /**
   * Two-level comparison: the pieces of this size inside each changed block
   * are compared too, and only those that differ are sent (0: whole blocks).
   */
  fineSize?: number;
  stats?: TransferStats;
  log?: (line: string) => void;
  /**
   * Wait for the target to close after DONE (default). A source on its own
   * stdout (`send --stdio`) cannot: its end of stream is its process's exit.
   */
  awaitTargetClose?: boolean;
  /** --with-dir: directories sent after the volume is confirmed, placed on the receiving host. */
  dirs?: DirSpec[] | undefined;
  /**
   * Change tracking: what changed since the snapshot the last sync read
   * (thin_delta), and that sync's fingerprint. Used only when the target takes
   * the digest cache and the cache is of that sync; otherwise the hash delta
   * runs, and the log says why.
   */
  changes?: TrackedChanges | undefined;
  /**
   * Called once every block is read, before END: throws when what was read
   * cannot be trusted (a snapshot that overflowed); the target then stays
   * marked incomplete.
   */
  beforeEnd?: (() => Promise<void>) | undefined;
}

export interface SourceResult {
  fingerprint: string;
  resumedFromBlock: number;
  /** The target held a copy: blocks were compared and only changed ones sent. */
  compared: boolean;
  /** The comparison was against the digest cache: the target read only the blocks offered to it. */
  cached: boolean;
  stats: TransferStats;
  /** --with-dir: what each directory placed on the receiving host held. */
  dirs: DirReport[];
}

export interface TrackedChanges {
  delta: ThinDelta;
  /** The fingerprint of the sync that read the base snapshot (its tag). */
  baseFingerprint: string;
  /** Seconds the diff took. */
  diffSeconds: number;
}
