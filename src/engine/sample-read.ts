/**
 * Timed reads of a sample of a volume, as the engine reads it (batches of
 * whole blocks, two in flight, digested in the same native call, holes
 * skipped): what `blockferry bench` measures on the source, and the target on
 * a probe. A sample is spread over the volume in an order where every prefix
 * is spread too (bit-reversed places), so a read cut short by its time limit
 * still covers the whole volume. Also: the volume's extents, for its holes.
 */
import { randomBytes } from "node:crypto";
import type { Volume } from "../native/index.js";
import { BufferPool } from "./buffer-pool.js";
import { TransferStats } from "./stats.js";
import { BATCH_BYTES, READ_AHEAD, readBatches } from "./volume-reader.js";

/** One read: a source batch. */
export const SAMPLE_CHUNK_BYTES = BATCH_BYTES;
/** Reads in flight, as the source's read-ahead keeps them. */
const DEPTH = READ_AHEAD;
/**
 * Bytes read in order at each place of a spread sample: a sync reads in
 * order, and a disk (or the host under a virtual one) reads ahead; each run
 * starts with an empty pipeline, so runs are long.
 */
const RUN_BYTES = 256 * 1024 * 1024;
/** Extents listed at most: beyond, the rest of the volume is taken to be like the part listed. */
const MAX_EXTENTS = 65_536;

export interface DataLayout {
  /** [start, end) byte ranges holding data, as far as listed. */
  extents: Array<[number, number]>;
  /** Bytes holding data up to `end` (extrapolated when the listing stopped early). */
  dataBytes: number;
  end: number;
}

/** The extents of `volume` below `end` that hold data (a block device is one); stops at `deadline` (performance.now()). */
export async function dataLayout(
  volume: Volume,
  end: number,
  deadline = Number.POSITIVE_INFINITY,
): Promise<DataLayout> {
  if (volume.info.isBlockDevice || end === 0) return { extents: end > 0 ? [[0, end]] : [], dataBytes: end, end };
  const extents: Array<[number, number]> = [];
  let at = 0;
  while (at < end && extents.length < MAX_EXTENTS && performance.now() < deadline) {
    const found = await volume.dataExtents(at, end - at, 4096);
    extents.push(...found.extents);
    if (found.searchedTo <= at) break;
    at = found.searchedTo;
  }
  const seen = extents.reduce((n, [s, e]) => n + e - s, 0);
  const dataBytes = at >= end || at === 0 ? seen : Math.round((seen * end) / at);
  return { extents, dataBytes, end };
}

export interface SampleOptions {
  volume: Volume;
  /** Read below this byte (the volume's size, or the source's on a target). */
  end: number;
  blockSize: number;
  /** Stop once this many bytes were read. */
  maxBytes: number;
  /** Stop at this time (performance.now()). */
  deadline: number;
  /** "spread": runs in bit-reversed order; "sequential": the whole volume in order (a full scan). */
  order: "spread" | "sequential";
  /** 0 to 1: shifts the runs, so that a second sample reads other places. */
  phase?: number;
  /** Sees each batch read (before its buffer is reused): its bytes and 1 per all-zero block. */
  onChunk?: (data: Buffer, zero: Buffer) => void;
  /** Stop once this says so. */
  stop?: () => boolean;
  /** Awaited after each batch, with the bytes read so far: holds the next read back (the read-ahead still runs). */
  gate?: (bytes: number) => Promise<void>;
}

export interface SampleResult {
  bytes: number;
  seconds: number;
  /** Bytes of all-zero blocks among those read. */
  zeroBytes: number;
}

/**
 * Reads runs of the volume through the engine's own reader (readBatches: a
 * batch per native call, two in flight, holes found and skipped batch by
 * batch, each block digested), so that what it costs per batch is measured
 * too, as on a target whose copy is full of holes.
 */
export async function sampleRead(o: SampleOptions): Promise<SampleResult> {
  const { volume, blockSize } = o;
  const seed = randomBytes(8).readBigUInt64BE();
  const pool = new BufferPool(DEPTH + 1, () => volume.allocBuffer(SAMPLE_CHUNK_BYTES));
  const result: SampleResult = { bytes: 0, seconds: 0, zeroBytes: 0 };
  const enough = () => result.bytes >= o.maxBytes || performance.now() >= o.deadline || (o.stop?.() ?? false);
  const started = performance.now();
  for (const [from, to] of o.order === "sequential" ? [[0, o.end] as const] : runs(o.end, blockSize, o.phase ?? 0)) {
    if (enough()) break;
    const batches = readBatches({
      volume,
      fromBlock: from / blockSize,
      endByte: to,
      blockSize,
      seed,
      batchBytes: SAMPLE_CHUNK_BYTES,
      depth: DEPTH,
      pool,
      stats: new TransferStats(),
      compress: false,
    });
    for await (const batch of batches) {
      if (batch.kind === "data") {
        result.bytes += batch.length;
        for (let i = 0; i < batch.count; i++) {
          if (batch.zero[i] === 1) result.zeroBytes += Math.min(blockSize, batch.length - i * blockSize);
        }
        o.onChunk?.(batch.buffer.subarray(0, batch.length), batch.zero);
        batch.release();
      }
      if (enough()) break;
      await o.gate?.(result.bytes);
    }
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Runs of RUN_BYTES of the volume, in bit-reversed order (rotated by `phase`): every prefix is spread over the volume. */
function* runs(end: number, blockSize: number, phase: number): Generator<readonly [number, number]> {
  const slots = Math.ceil(end / RUN_BYTES);
  if (slots === 0) return;
  const bits = Math.max(1, Math.ceil(Math.log2(slots)));
  const shift = Math.floor(phase * slots);
  for (let i = 0; i < 2 ** bits; i++) {
    const slot = reverseBits(i, bits);
    if (slot >= slots) continue;
    const from = Math.floor((((slot + shift) % slots) * RUN_BYTES) / blockSize) * blockSize;
    yield [from, Math.min(from + RUN_BYTES, end)];
  }
}

function reverseBits(n: number, bits: number): number {
  let r = 0;
  for (let b = 0; b < bits; b++) r = (r << 1) | ((n >> b) & 1);
  return r;
}
