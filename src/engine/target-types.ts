/** What the target role is given and what it returns: shared by the copy (target-session.ts) and the probe. */
import type { Volume } from "../native/index.js";
import type { FrameChannel } from "../protocol/frames.js";
import type { Hello } from "../protocol/messages.js";
import type { DirReport } from "./dir-transfer.js";
import type { SyncMode, TargetStateStore } from "./state.js";
import type { TransferStats } from "./stats.js";

export interface OpenedTarget {
  /** Opened for writing. */
  volume: Volume;
  state: TargetStateStore;
  /** Identifies the volume across runs; a state saved for another volume is not resumed. */
  identity: string;
  /** For logs: the configured name and the path. */
  describe: string;
  /** Created by this run (--create): it holds nothing anyone could still need. */
  created?: boolean;
  /**
   * The volume's change stamp now (src/job/identity.ts); undefined when it
   * cannot be told. `seal`: taken to be recorded, after the last write.
   */
  stamp: (seal?: boolean) => Promise<string | undefined>;
  /** --with-dir: throws unless this peer may place a directory at `dest` (asked right before each). */
  checkDir?: (dest: string) => Promise<void>;
  /**
   * Whether the volume was written since the stamp `recorded` was taken:
   * "unknown" when that cannot be told (a device's host rebooted since).
   * Absent: the stamps are compared as they are.
   */
  writtenSince?: (recorded: string | undefined) => Promise<"no" | "yes" | "unknown">;
  /** --keep-good: how the last good copy is preserved before a sync writes the volume. */
  keeper?: GoodCopyKeeper | undefined;
}

/**
 * Keeps the copy of the last completed sync while the next one writes the
 * volume: a reflink clone of an image, or an LVM snapshot of an LV.
 */
export interface GoodCopyKeeper {
  method: "reflink" | "lvm";
  /** Preserves the volume as it is now, replacing an earlier preserved copy; returns where it is kept. */
  preserve(): Promise<string>;
  /** Drops the preserved copy at `where` (after a verified sync). */
  drop(where: string): Promise<void>;
  /** Why the copy at `where` no longer holds what was preserved (a classic snapshot that filled up), or "". */
  lost(where: string): Promise<string>;
}

/** Looks the requested target up and opens it, or throws the refusal to send back. */
export type TargetResolver = (hello: Hello) => Promise<OpenedTarget>;

export interface TargetOptions {
  channel: FrameChannel;
  resolve: TargetResolver;
  checkpointBytes?: number | undefined;
  /** Compare mode: how far the digests may run ahead of the source (tests shrink it). */
  digestsAheadBytes?: number | undefined;
  stats?: TransferStats;
  log?: (line: string) => void;
}

/** A sync received: the copy is complete and verified (anything else is thrown). */
export interface TargetResult {
  mode: SyncMode;
  target: string;
  sourceId: string;
  fingerprint: string;
  verified: boolean;
  resumedFromBlock: number;
  stats: TransferStats;
  /** --with-dir: the directories placed here after the copy was confirmed. */
  dirs: DirReport[];
}

/** A probe answered (`blockferry bench --to`): nothing written, nothing recorded. */
export interface ProbeResult {
  mode: "probe";
  target: string;
  sourceId: string;
  stats: TransferStats;
}
