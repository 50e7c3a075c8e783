/**
 * The source's view of its volume: batches of whole blocks in order, read
 * ahead on worker threads and digested in the same pass. Holes of an image
 * file (SEEK_DATA/SEEK_HOLE) come out as hole runs and are never read.
 */
import { type Compressed, compressBlocks, type Volume } from "../native/index.js";
import type { BufferPool } from "./buffer-pool.js";
import type { TransferStats } from "./stats.js";

export interface HoleRun {
  kind: "hole";
  firstBlock: number;
  count: number;
}

export interface DataBatch {
  kind: "data";
  firstBlock: number;
  count: number;
  /** The batch's bytes: `length` of them (the last block of the volume may be short). */
  buffer: Buffer;
  length: number;
  digests: Buffer;
  /** 1 per all-zero block. */
  zero: Buffer;
  /** With compression: lz4 output of the batch (sizes[i] 0 where a block stays raw). */
  compressed: Compressed | undefined;
  /** Gives the buffer back to the pool; call once its bytes are no longer needed. */
  release(): void;
}

export type SourceBatch = HoleRun | DataBatch;

export interface BatchPlan {
  volume: Volume;
  fromBlock: number;
  /** Where to stop (default: the end of the volume). */
  endByte?: number;
  blockSize: number;
  seed: bigint;
  batchBytes: number;
  /** Batches read ahead of the consumer. */
  depth: number;
  pool: BufferPool;
  stats: TransferStats;
  /** Compress each batch with lz4 as part of the read-ahead. */
  compress: boolean;
}

export async function* readBatches(plan: BatchPlan): AsyncGenerator<SourceBatch> {
  const { volume, blockSize, batchBytes } = plan;
  const size = Math.min(plan.endByte ?? volume.size, volume.size);
  let pos = plan.fromBlock * blockSize;
  let dataUntil = pos; // known data (no hole) up to here
  const queue: Array<Promise<SourceBatch>> = [];

  // Returns the next batch's promise wrapped, so awaiting the plan does not await the read.
  const planNext = async (): Promise<{ batch: Promise<SourceBatch> }> => {
    if (pos >= dataUntil) {
      const { extents } = await volume.dataExtents(pos, size - pos, 1);
      const [start, end] = extents[0] ?? [size, size];
      const holeEnd = Math.floor(start / blockSize) * blockSize;
      if (holeEnd > pos) {
        const run: HoleRun = { kind: "hole", firstBlock: pos / blockSize, count: (holeEnd - pos) / blockSize };
        pos = holeEnd;
        return { batch: Promise.resolve(run) };
      }
      dataUntil = Math.min(size, Math.ceil(end / blockSize) * blockSize);
    }
    const offset = pos;
    const length = Math.min(batchBytes, dataUntil - offset);
    pos += length;
    const read = async (): Promise<DataBatch> => {
      const buffer = await plan.pool.acquire();
      try {
        const result = await volume.read(buffer, offset, length, { blockSize, seed: plan.seed });
        plan.stats.readBytes += length;
        plan.stats.readSeconds += result.readSeconds;
        plan.stats.hashSeconds += result.hashSeconds;
        const zero = result.zero as Buffer;
        const allZero = zero.every((z) => z === 1);
        const compressed =
          plan.compress && !allZero ? await compressBlocks(buffer.subarray(0, length), blockSize) : undefined;
        return {
          kind: "data",
          firstBlock: offset / blockSize,
          count: Math.ceil(length / blockSize),
          buffer,
          length,
          digests: result.digests as Buffer,
          zero,
          compressed,
          release: () => plan.pool.release(buffer),
        };
      } catch (e) {
        plan.pool.release(buffer);
        throw e;
      }
    };
    return { batch: read() };
  };

  const fill = async () => {
    while (queue.length < plan.depth && pos < size) {
      const { batch } = await planNext();
      batch.catch(() => {}); // awaited in order below; this only stops an early unhandled rejection
      queue.push(batch);
    }
  };
  try {
    await fill();
    while (queue.length > 0) {
      const head = await (queue.shift() as Promise<SourceBatch>);
      // Top up before handing the batch over, so `depth` reads stay in flight
      // while the consumer works on it (with one, the device idles in between).
      await fill();
      yield head;
    }
  } finally {
    // A consumer that stops early: the reads still in flight give their buffers back.
    for (const batch of queue)
      batch.then(
        (b) => b.kind === "data" && b.release(),
        () => {},
      );
  }
}
