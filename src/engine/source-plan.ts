/**
 * What the source sends for one batch, decided without I/O (as diskrsync's
 * planner is): from the batch's own digests and zero flags and, when the
 * target holds a copy, its digests, a list of steps in block order, each a
 * run of blocks that the target holds already, that is all zero, that is
 * offered piece by piece (two levels), or that is sent whole.
 */
import { DIGEST_SIZE } from "../native/index.js";
import type { TransferStats } from "./stats.js";
import type { SourceBatch } from "./volume-reader.js";

/** Longest run of changed blocks offered piece by piece: 1 MiB of 64K blocks. Longer runs are rewrites. */
export const FINE_MAX_RUN_BLOCKS = 16;

export type StepKind =
  /** The target holds these blocks: a SAME_RUN. */
  | "same"
  /** All zero (or a hole), and the target does not hold that: a ZERO_RUN. */
  | "zero"
  /** A short run of changed blocks: a FINE_OFFER of its pieces' digests. */
  | "offer"
  /** Changed blocks sent whole: BLOCKS. */
  | "blocks";

export interface Step {
  kind: StepKind;
  first: number;
  count: number;
}

/** The target's digest of block b, or "zero" for a block it holds as zeros. */
export type TheirDigest = (block: number) => Buffer | "zero";
/** The target's digests of a run of blocks, when they are at hand in one piece (else undefined). */
export type TheirDigests = (first: number, count: number) => Buffer | undefined;
/** Blocks compared at once before block by block: most of a nightly delta's blocks are the same. */
const COMPARED_AT_ONCE = 64;

/** Change tracking: blocks as the last sync left them, not read (the digest cache stands for them). */
export interface KnownRun {
  kind: "known";
  firstBlock: number;
  count: number;
}

export type PlannedBatch = SourceBatch | KnownRun;

export interface PlanInput {
  batch: PlannedBatch;
  /** The target's digests (compare or cached mode); undefined: the target holds nothing to compare with. */
  theirs: TheirDigest | undefined;
  /** The same digests a run at a time, for comparing many blocks in one call. */
  theirRange?: TheirDigests | undefined;
  /** Digests of an all-zero full block and of the volume's (possibly short) last block. */
  zeros: { full: Buffer; tail: Buffer };
  /** Index of the volume's last block. */
  lastBlock: number;
  /** Two-level comparison on: short runs of changed data blocks are offered. */
  twoLevel: boolean;
}

export function planBatch(p: PlanInput): Step[] {
  if (p.batch.kind === "known") return [{ kind: "same", first: p.batch.firstBlock, count: p.batch.count }];
  const steps: Step[] = [];
  for (const seg of segments({ ...p, batch: p.batch })) {
    if (seg.same) {
      steps.push({ kind: "same", first: seg.first, count: seg.count });
      continue;
    }
    const { batch } = p;
    const at = seg.first - batch.firstBlock;
    const allZero = batch.kind === "hole" || batch.zero.subarray(at, at + seg.count).every((z) => z === 1);
    const kind = allZero ? "zero" : p.twoLevel && seg.count <= FINE_MAX_RUN_BLOCKS ? "offer" : "blocks";
    steps.push({ kind, first: seg.first, count: seg.count });
  }
  return steps;
}

/**
 * In compare mode a hole run is cut into pieces of at most one batch, so that
 * the source never waits for digests further ahead than the target may send.
 */
export function* piecesOf(batch: PlannedBatch, maxBlocks: number): Generator<PlannedBatch> {
  if (batch.kind === "data" || batch.count <= maxBlocks) {
    yield batch;
    return;
  }
  for (let at = 0; at < batch.count; at += maxBlocks) {
    yield { kind: batch.kind, firstBlock: batch.firstBlock + at, count: Math.min(maxBlocks, batch.count - at) };
  }
}

interface Segment {
  first: number;
  count: number;
  same: boolean;
}

/** Runs of blocks the target holds already and runs it does not (without its digests: all of it, one run). */
function segments(p: PlanInput & { batch: SourceBatch }): Segment[] {
  const { batch, theirs, theirRange } = p;
  if (theirs === undefined) return [{ first: batch.firstBlock, count: batch.count, same: false }];
  const out: Segment[] = [];
  const add = (first: number, count: number, same: boolean) => {
    const prev = out.at(-1);
    if (prev !== undefined && prev.same === same) prev.count += count;
    else out.push({ first, count, same });
  };
  for (let i = 0; i < batch.count; ) {
    const n = Math.min(COMPARED_AT_ONCE, batch.count - i);
    const b = batch.firstBlock + i;
    // A piece of digests equal to the target's, in one comparison: the blocks are the same.
    const mine = batch.kind === "data" ? batch.digests.subarray(i * DIGEST_SIZE, (i + n) * DIGEST_SIZE) : undefined;
    if (mine !== undefined && theirRange?.(b, n)?.equals(mine)) add(b, n, true);
    else for (let j = i; j < i + n; j++) add(batch.firstBlock + j, 1, sameBlock(p, theirs, j));
    i += n;
  }
  return out;
}

/** Whether the target holds block `i` of the batch as it is. */
function sameBlock({ batch, zeros, lastBlock }: PlanInput & { batch: SourceBatch }, theirs: TheirDigest, i: number) {
  const b = batch.firstBlock + i;
  const target = theirs(b);
  if (batch.kind === "hole") return target === "zero" || target.equals(b === lastBlock ? zeros.tail : zeros.full);
  if (target === "zero") return batch.zero[i] === 1;
  return target.equals(batch.digests.subarray(i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE));
}

/** A dry run's count of what a step would send: same bytes, or changed blocks as zero or raw bytes. */
export function countWouldSend(
  batch: PlannedBatch,
  step: Step,
  stats: TransferStats,
  blockSize: number,
  size: number,
): void {
  if (step.kind === "same") {
    stats.sameBytes += Math.min((step.first + step.count) * blockSize, size) - step.first * blockSize;
    return;
  }
  stats.changedBlocks += step.count;
  for (let b = step.first; b < step.first + step.count; b++) {
    const n = Math.min(blockSize, size - b * blockSize);
    if (batch.kind !== "data" || batch.zero[b - batch.firstBlock] === 1) stats.zeroBytes += n;
    else stats.rawBytes += n;
  }
}
