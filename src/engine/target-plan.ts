/**
 * How the target takes a sync, decided once, from what the source asked and
 * what the target knows (its saved state, its volume), with no I/O of its
 * own: a copy from block N (0, or where an interrupted copy stopped), a
 * comparison with its own digests, or an update against the source's digest
 * cache. A dry run takes the same path and writes nothing.
 */
import type { Hello } from "../protocol/messages.js";
import { FINGERPRINT_SIZE } from "../protocol/messages.js";
import type { SyncMode, TargetState } from "./state.js";

export type TargetMode =
  /** Every block from `fromBlock` is sent; blocks before it are the interrupted copy's, proven intact. */
  | { kind: "copy"; fromBlock: number; resumeSum: Buffer }
  /** The target streams its digests; only blocks that differ are sent. */
  | { kind: "compare" }
  /** The source's digest cache stands for the target's digests: the target reads only offered blocks. */
  | { kind: "cached" };

export interface TargetPlan {
  mode: TargetMode;
  /** Compare and count only: nothing written, nothing recorded. */
  dryRun: boolean;
  /** The digest seed of this sync (the interrupted copy's or the cache's, when one continues). */
  seed: bigint;
  /** The generation the copy has once this sync completes. */
  generation: number;
  /** Why the digest cache offered is not used ("" when it is, or when none was offered). */
  cacheRefusal: string;
  /** The volume is the last completed sync's copy, which --keep-good may keep as such. */
  savedIntact: boolean;
}

/** What the target found before deciding; gathered by the caller (reads, stat calls). */
export interface TargetFacts {
  saved: TargetState | undefined;
  /** This volume's identity (src/job/identity.ts). */
  identity: string;
  volumeSize: number;
  /** The volume's change stamp before this sync touched it; undefined when it cannot be told. */
  stamp: string | undefined;
  /** An image with data, or any block device: an earlier copy worth comparing with. */
  holdsData: boolean;
  /** For a resumable copy: its copied part still holds what was acknowledged (see prefixIntact). */
  prefixIntact: boolean;
  /** The record of the last completed sync still describes the volume: not written since. */
  savedIntact: boolean;
  /** A fresh random seed, used when nothing is continued. */
  freshSeed: bigint;
}

/** An interrupted copy of this source into this volume, that this sync may continue. */
export function resumable(saved: TargetState | undefined, hello: Hello, identity: string, volumeSize: number) {
  return (
    saved !== undefined &&
    saved.targetId === identity &&
    !saved.complete &&
    saved.mode === "copy" &&
    !hello.flags.full &&
    saved.blocksDone > 0 &&
    saved.sourceId === hello.sourceId &&
    saved.sourceSize === hello.sourceSize &&
    saved.blockSize === hello.blockSize &&
    volumeSize >= hello.sourceSize
  );
}

/**
 * Why the source's digest cache cannot stand for this target, or "" when it
 * can: the target's record must be of a completed sync of this very volume,
 * of the cache's generation and fingerprint, and the volume must not have
 * been written since (its change stamp is the one recorded then).
 */
export function cacheRefusal(saved: TargetState | undefined, hello: Hello, f: TargetFacts): string {
  if (saved === undefined || saved.targetId !== f.identity) return "the target has no record of that sync";
  if (!saved.complete || !saved.verified) return "the last sync to the target did not complete";
  if (saved.generation !== hello.cacheGeneration) {
    return `the target holds generation ${saved.generation} of its copy, the cache generation ${hello.cacheGeneration}`;
  }
  if (saved.sourceSize !== hello.sourceSize || saved.blockSize !== hello.blockSize) {
    return "the volume size or block size changed since";
  }
  if (saved.fingerprint !== hello.cacheFingerprint.toString("hex")) {
    return "the cache does not match the target's record";
  }
  if (f.stamp === undefined) return "the target cannot tell whether it was written since";
  if (saved.stamp !== f.stamp) return "the target was written outside blockferry since the last sync";
  return "";
}

export function planTarget(hello: Hello, f: TargetFacts): TargetPlan {
  const { saved } = f;
  const generation = (saved?.generation ?? 0) + 1;
  const base = { dryRun: hello.flags.dryRun, generation, savedIntact: f.savedIntact };
  const offered = hello.cacheGeneration > 0 && !hello.flags.full;
  const refusal = offered ? cacheRefusal(saved, hello, f) : "";
  if (saved !== undefined && resumable(saved, hello, f.identity, f.volumeSize) && f.prefixIntact) {
    const mode = { kind: "copy", fromBlock: saved.blocksDone, resumeSum: Buffer.from(saved.fingerprint, "hex") };
    return { ...base, mode: mode as TargetMode, seed: BigInt(saved.seed), cacheRefusal: refusal };
  }
  if (saved !== undefined && offered && refusal === "") {
    return { ...base, mode: { kind: "cached" }, seed: BigInt(saved.seed), cacheRefusal: "" };
  }
  // An earlier copy, complete or not, is compared and only the differences sent.
  const compare = !hello.flags.full && f.holdsData;
  const mode: TargetMode = compare
    ? { kind: "compare" }
    : { kind: "copy", fromBlock: 0, resumeSum: Buffer.alloc(FINGERPRINT_SIZE) };
  return { ...base, mode, seed: f.freshSeed, cacheRefusal: refusal };
}

/** How this sync finds what to send, as its result and its record say. */
export function syncMode(plan: TargetPlan, hello: Hello): SyncMode {
  return plan.mode.kind === "cached" && hello.flags.tracked === true ? "tracked" : plan.mode.kind;
}

/** The receiver's first line of a sync: "TARGET: <this> N bytes from SOURCE". */
export const BEGUN: Record<SyncMode, string> = {
  copy: "receiving",
  compare: "comparing with",
  cached: "updating (digests from the source's cache)",
  tracked: "updating (changes listed by the source's change tracking, digests from its cache)",
};

/** The first block this sync sends (an interrupted copy's resume point, else 0). */
export function startBlock(plan: TargetPlan): number {
  return plan.mode.kind === "copy" ? plan.mode.fromBlock : 0;
}
