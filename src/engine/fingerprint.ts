/**
 * The whole-volume fingerprint: a 128-bit sum of per-block contributions
 * (native/core/digest.h). Batches fold independently, on worker threads, and
 * their sums are added here; a checkpoint stores 16 bytes.
 */
import { DIGEST_SIZE, digestBlocks, foldDigests, type Volume } from "../native/index.js";
import { MAX_BLOCKS_BYTES } from "../protocol/messages.js";
import { BufferPool } from "./buffer-pool.js";
import type { TransferStats } from "./stats.js";
import { readBatches } from "./volume-reader.js";

const MASK = (1n << 128n) - 1n;
const ZERO16 = Buffer.alloc(DIGEST_SIZE);

export class Fingerprint {
  #sum: bigint;

  constructor(initial?: Uint8Array) {
    this.#sum = initial === undefined ? 0n : BigInt(`0x${Buffer.from(initial).toString("hex")}`);
  }

  add(part: Uint8Array): void {
    this.#sum = (this.#sum + BigInt(`0x${Buffer.from(part).toString("hex")}`)) & MASK;
  }

  /** Takes a part out again (a block replaced by another). */
  subtract(part: Uint8Array): void {
    this.#sum = (this.#sum - BigInt(`0x${Buffer.from(part).toString("hex")}`)) & MASK;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.#sum.toString(16).padStart(32, "0"), "hex");
  }

  get hex(): string {
    return this.#sum.toString(16).padStart(32, "0");
  }

  equals(other: Uint8Array): boolean {
    return this.toBuffer().equals(Buffer.from(other));
  }
}

/** Sum of the contributions of `count` blocks from `firstBlock`, given their digests. */
export function foldBatch(digests: Buffer, count: number, firstBlock: number, seed: bigint): Promise<Buffer> {
  return foldDigests(ZERO16, digests, count, firstBlock, seed);
}

/**
 * Sum of the contributions of the all-zero blocks [firstBlock, firstBlock + count)
 * of a volume of `volumeSize` bytes (the last block may be short).
 */
export async function foldZeroRun(
  firstBlock: number,
  count: number,
  blockSize: number,
  volumeSize: number,
  seed: bigint,
): Promise<Buffer> {
  const lastBlock = Math.ceil(volumeSize / blockSize) - 1;
  const tail = volumeSize - lastBlock * blockSize;
  const includesShortTail = firstBlock + count - 1 === lastBlock && tail < blockSize;
  const full = includesShortTail ? count - 1 : count;
  const sum = new Fingerprint();
  if (full > 0) {
    const { digests } = await digestBlocks(Buffer.alloc(blockSize), blockSize, seed);
    sum.add(await foldDigests(ZERO16, digests, full, firstBlock, seed, true));
  }
  if (includesShortTail) {
    const { digests } = await digestBlocks(Buffer.alloc(tail), blockSize, seed);
    sum.add(await foldDigests(ZERO16, digests, 1, lastBlock, seed));
  }
  return sum.toBuffer();
}

/**
 * Fingerprint of bytes [0, endByte) of a volume as it holds them now, read
 * with O_DIRECT (holes are not read). The source checks the part an
 * interrupted copy already sent with it; the target, its copy (--verify).
 */
export async function fingerprintVolume(
  volume: Volume,
  endByte: number,
  blockSize: number,
  seed: bigint,
  stats: TransferStats,
  batchBytes: number,
  onProgress?: (bytes: number) => void,
): Promise<Fingerprint> {
  const sum = new Fingerprint();
  const pool = new BufferPool(3, () => volume.allocBuffer(batchBytes));
  const plan = { volume, fromBlock: 0, endByte, blockSize, seed, batchBytes, depth: 2, pool, stats, compress: false };
  for await (const batch of readBatches(plan)) {
    if (batch.kind === "hole") {
      sum.add(await foldZeroRun(batch.firstBlock, batch.count, blockSize, endByte, seed));
    } else {
      sum.add(await foldBatch(batch.digests, batch.count, batch.firstBlock, seed));
      batch.release();
    }
    onProgress?.(Math.min((batch.firstBlock + batch.count) * blockSize, endByte));
  }
  return sum;
}

/** What a completed sync recorded of its copy (TargetState, CompletedRecord). */
export interface RecordedCopy {
  sourceSize: number;
  blockSize: number;
  seed: string;
  fingerprint: string;
}

/**
 * Whether `volume` holds the copy a completed sync recorded: read whole, its
 * fingerprint compared. An image is exactly that long (a tail past the
 * copy's end was written since); a device may be larger.
 */
export async function holdsRecordedCopy(volume: Volume, r: RecordedCopy, stats: TransferStats): Promise<boolean> {
  const sized = volume.info.isBlockDevice ? volume.size >= r.sourceSize : volume.size === r.sourceSize;
  if (!sized) return false;
  const batchBytes = Math.max(MAX_BLOCKS_BYTES, r.blockSize);
  const sum = await fingerprintVolume(volume, r.sourceSize, r.blockSize, BigInt(r.seed), stats, batchBytes);
  return sum.hex === r.fingerprint;
}
