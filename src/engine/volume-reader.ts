/**
 * A volume read in order as batches of whole blocks, read ahead on worker
 * threads and digested in the same pass: the source's reads, the target's
 * digest stream, the re-reads that verify a copy or check a resumed copy's
 * part, and bench's samples. Holes of an image file (SEEK_DATA/SEEK_HOLE)
 * come out as hole runs and are never read.
 */
import { type Compressed, compressBlocks, type ReadResult, type Volume } from "../native/index.js";
import { mark, timelineOn } from "../timeline.js";
import type { BufferPool } from "./buffer-pool.js";
import type { RateLimiter } from "./rate-limit.js";
import type { TransferStats } from "./stats.js";

/** Bytes per batch of the source: one native call, one BLOCKS message. */
export const BATCH_BYTES = 16 * 1024 * 1024;
/** Batches the source reads (and compresses) ahead of the one being sent. */
export const READ_AHEAD = 2;

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
  /** Paces reads of the volume (--read-limit); holes are not read, so not counted. */
  limiter?: RateLimiter | undefined;
}

/** How to read, whatever is read. */
export type ReadPlan = Omit<BatchPlan, "fromBlock" | "endByte">;

/** Extents fetched per native call. */
const EXTENTS_PER_CALL = 64;

/**
 * The data regions of a volume from `pos` on, in order: extents found with
 * SEEK_DATA/SEEK_HOLE, merged across holes shorter than `minHole`. Reading a
 * short hole costs no disk I/O (it reads as zeros), while stopping at it costs
 * a short batch and a native call, which leaves the device idle on an image
 * with many small holes (a filesystem image here: 202 batches for 2.4 GB of
 * data, 152 once short holes are read). A region is cut at `maxRegion` so a file of many small
 * extents starts reading at once. Extents are listed up to 64 ahead: on a
 * source copied live (--allow-live), data written into a hole listed
 * earlier goes as zeros, as any live copy may miss concurrent writes.
 */
class DataRegions {
  #extents: Array<[number, number]> = [];
  #searchedTo: number;

  constructor(
    private readonly volume: Volume,
    from: number,
    private readonly size: number,
    private readonly minHole: number,
    private readonly maxRegion: number,
  ) {
    this.#searchedTo = from;
  }

  async #peek(): Promise<[number, number] | undefined> {
    if (this.#extents.length === 0 && this.#searchedTo < this.size) {
      const found = await this.volume.dataExtents(this.#searchedTo, this.size - this.#searchedTo, EXTENTS_PER_CALL);
      this.#extents = found.extents;
      this.#searchedTo = found.extents.length === 0 ? this.size : found.searchedTo;
    }
    return this.#extents[0];
  }

  /** The next region holding data at or after `pos`, as [start, end); [size, size] when none is left. */
  async next(pos: number): Promise<[number, number]> {
    let first = await this.#peek();
    while (first !== undefined && first[1] <= pos) {
      this.#extents.shift();
      first = await this.#peek();
    }
    if (first === undefined) return [this.size, this.size];
    const start = first[0] - pos < this.minHole ? pos : first[0];
    let end = first[1];
    this.#extents.shift();
    for (let e = await this.#peek(); e !== undefined && e[0] - end < this.minHole; e = await this.#peek()) {
      if (end - start >= this.maxRegion) return [start, end];
      end = e[1];
      this.#extents.shift();
    }
    // Past the last extent: a short hole up to the end is read too.
    if ((await this.#peek()) === undefined && this.size - end < this.minHole) end = this.size;
    return [start, end];
  }
}

/** With compression on, lz4 of a batch's blocks, unless every one is zero. */
export async function compressedOf(plan: ReadPlan, bytes: Buffer, zero: Buffer): Promise<Compressed | undefined> {
  if (!plan.compress || zero.every((z) => z === 1)) return undefined;
  return compressBlocks(bytes, plan.blockSize);
}

/** Reads `bytes` of the volume with `read`, paced by the plan's limiter and counted in its stats. */
export async function readCounted(plan: ReadPlan, bytes: number, read: () => Promise<ReadResult>): Promise<ReadResult> {
  await plan.limiter?.take(bytes);
  const started = performance.now();
  const result = await read();
  // Its time beyond reading and hashing is queueing for a worker thread and the handoffs.
  if (timelineOn) mark("read", { bytes, callMs: performance.now() - started, readMs: result.readSeconds * 1000 });
  plan.stats.readBytes += bytes;
  plan.stats.readSeconds += result.readSeconds;
  plan.stats.hashSeconds += result.hashSeconds;
  return result;
}

/** One batch read with O_DIRECT and digested in the same pass (and compressed, when the plan says so). */
async function readBatch(plan: ReadPlan, offset: number, length: number): Promise<DataBatch> {
  const { volume, blockSize } = plan;
  const buffer = await plan.pool.acquire();
  try {
    const read = () => volume.read(buffer, offset, length, { blockSize, seed: plan.seed });
    const result = await readCounted(plan, length, read);
    const zero = result.zero as Buffer;
    const compressed = await compressedOf(plan, buffer.subarray(0, length), zero);
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
}

export async function* readBatches(plan: BatchPlan): AsyncGenerator<SourceBatch> {
  const { volume, blockSize, batchBytes } = plan;
  const size = Math.min(plan.endByte ?? volume.size, volume.size);
  let pos = plan.fromBlock * blockSize;
  let dataUntil = pos; // known data (no hole) up to here
  const regions = new DataRegions(volume, pos, size, batchBytes, 4 * batchBytes);

  const planNext = async (): Promise<Planned<SourceBatch> | undefined> => {
    if (pos >= size) return undefined;
    if (pos >= dataUntil) {
      const [start, end] = await regions.next(pos);
      const holeEnd = Math.floor(start / blockSize) * blockSize;
      dataUntil = Math.min(size, Math.ceil(end / blockSize) * blockSize);
      if (holeEnd > pos) {
        const run: HoleRun = { kind: "hole", firstBlock: pos / blockSize, count: (holeEnd - pos) / blockSize };
        pos = holeEnd;
        return { batch: Promise.resolve(run) };
      }
    }
    const offset = pos;
    const length = Math.min(batchBytes, dataUntil - offset);
    pos += length;
    return { batch: readBatch(plan, offset, length) };
  };
  yield* inOrder(plan.depth, planNext);
}

/** Batches wrapped, so that awaiting the plan does not await the read. */
export interface Planned<B> {
  batch: Promise<B>;
}

/** Keeps `depth` planned batches in flight and yields them in order; a consumer that stops early frees them. */
export async function* inOrder<B extends HoleRun | { release(): void }>(
  depth: number,
  planNext: () => Promise<Planned<B> | undefined>,
): AsyncGenerator<B> {
  const queue: Array<Promise<B>> = [];
  let planned = true;
  const fill = async () => {
    while (planned && queue.length < depth) {
      const next = await planNext();
      if (next === undefined) planned = false;
      else {
        next.batch.catch(() => {}); // awaited in order below; this only stops an early unhandled rejection
        queue.push(next.batch);
      }
    }
  };
  try {
    await fill();
    while (queue.length > 0) {
      const head = await (queue.shift() as Promise<B>);
      // Top up before handing the batch over, so `depth` reads stay in flight
      // while the consumer works on it (with one, the device idles in between).
      await fill().catch((e: unknown) => {
        if ("release" in head) head.release();
        throw e;
      });
      yield head;
    }
  } finally {
    // A consumer that stops early: the reads still in flight give their buffers back.
    for (const batch of queue)
      batch.then(
        (b) => "release" in b && b.release(),
        () => {},
      );
  }
}
