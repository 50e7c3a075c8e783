/**
 * Change tracking's reads: only the ranges thin_delta named, in order and
 * apart (a pool chunk here and there). Several ranges go in one native call
 * (Volume.readSpans), up to a batch's bytes: thousands of scattered 64 KiB
 * reads were as many thread handoffs, and the handoffs, not the reads, took
 * the time. Each range's part still comes out as a DataBatch of its own; they
 * share the call's pool buffer, which goes back once every one is released.
 */
import { DIGEST_SIZE } from "../native/index.js";
import { compressedOf, type DataBatch, inOrder, type Planned, type ReadPlan, readCounted } from "./volume-reader.js";

/** Bytes of the volume to read; at most a batch, never across two ranges. */
interface Piece {
  offset: number;
  length: number;
}

/** One native call's worth of pieces, read into one buffer of the pool. */
interface SpanGroup {
  kind: "spans";
  batches: DataBatch[];
  /** Gives the buffer back at once (the group was never handed over). */
  release(): void;
}

/** Reads only `ranges` of blocks, with `depth` calls in flight; a batch per range (or per batch's bytes of one). */
export async function* readRanges(
  plan: ReadPlan,
  ranges: ReadonlyArray<{ first: number; count: number }>,
): AsyncGenerator<DataBatch> {
  const { blockSize, batchBytes } = plan;
  const pieces = piecesOf(ranges, blockSize, batchBytes, plan.volume.size);
  let next = pieces.next();
  const planNext = async (): Promise<Planned<SpanGroup> | undefined> => {
    const group: Piece[] = [];
    let bytes = 0;
    for (; !next.done; next = pieces.next()) {
      const rounded = Math.ceil(next.value.length / blockSize) * blockSize;
      if (group.length > 0 && bytes + rounded > batchBytes) break;
      group.push(next.value);
      bytes += rounded;
    }
    return group.length === 0 ? undefined : { batch: readGroup(plan, group) };
  };
  for await (const group of inOrder(plan.depth, planNext)) {
    let handed = 0;
    try {
      for (const batch of group.batches) {
        handed++;
        yield batch;
      }
    } finally {
      // A consumer that stops early: the batches it never saw are released here.
      for (const batch of group.batches.slice(handed)) batch.release();
    }
  }
}

function* piecesOf(
  ranges: ReadonlyArray<{ first: number; count: number }>,
  blockSize: number,
  batchBytes: number,
  size: number,
): Generator<Piece> {
  let pos = 0;
  for (const r of ranges) {
    const end = Math.min((r.first + r.count) * blockSize, size);
    for (pos = Math.max(pos, r.first * blockSize); pos < end; ) {
      const length = Math.min(batchBytes, end - pos);
      yield { offset: pos, length };
      pos += length;
    }
  }
}

async function readGroup(plan: ReadPlan, pieces: Piece[]): Promise<SpanGroup> {
  const { blockSize } = plan;
  const buffer = await plan.pool.acquire();
  let users = pieces.length;
  const releaseOne = () => {
    if (--users === 0) plan.pool.release(buffer);
  };
  try {
    const bytes = pieces.reduce((n, p) => n + p.length, 0);
    const spans = pieces.map((p) => [p.offset, p.length] as const);
    const result = await readCounted(plan, bytes, () =>
      plan.volume.readSpans(buffer, spans, { blockSize, seed: plan.seed }),
    );
    const batches: DataBatch[] = [];
    let block = 0;
    for (const p of pieces) {
      const count = Math.ceil(p.length / blockSize);
      const own = buffer.subarray(block * blockSize, (block + count) * blockSize);
      const zero = (result.zero as Buffer).subarray(block, block + count);
      batches.push({
        kind: "data",
        firstBlock: p.offset / blockSize,
        count,
        buffer: own,
        length: p.length,
        digests: (result.digests as Buffer).subarray(block * DIGEST_SIZE, (block + count) * DIGEST_SIZE),
        zero,
        compressed: await compressedOf(plan, own.subarray(0, p.length), zero),
        release: releaseOne,
      });
      block += count;
    }
    return { kind: "spans", batches, release: () => plan.pool.release(buffer) };
  } catch (e) {
    plan.pool.release(buffer);
    throw e;
  }
}
