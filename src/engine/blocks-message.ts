/** One BLOCKS message from a run of a batch's blocks (the source's data path). */
import { BlockferryError } from "../errors.js";
import { BlockKind, compressBlocks } from "../native/index.js";
import { type Blocks, MAX_BLOCKS_PER_MESSAGE } from "../protocol/messages.js";
import type { TransferStats } from "./stats.js";
import type { DataBatch } from "./volume-reader.js";

/**
 * Lays `count` blocks of a batch, from its block `at`, out as one BLOCKS
 * message without copying raw bytes. Blocks compressed in the read-ahead are
 * used as they are; otherwise, with `compress`, the blocks are compressed now.
 */
export async function blocksMessage(
  batch: DataBatch,
  at: number,
  count: number,
  blockSize: number,
  compress: boolean,
  stats: TransferStats,
): Promise<Blocks> {
  if (count > MAX_BLOCKS_PER_MESSAGE) throw new BlockferryError("E_INTERNAL", "batch holds too many blocks");
  const start = at * blockSize;
  const length = Math.min(count * blockSize, batch.length - start);
  const buffer = batch.buffer.subarray(start, start + length);
  const zero = batch.zero.subarray(at, at + count);
  let packed: { payload: Buffer; sizes: Uint32Array } | undefined;
  if (batch.compressed !== undefined) {
    // Compressed as a whole batch: find this run's first byte in the payload.
    let offset = 0;
    for (let i = 0; i < at; i++) offset += batch.compressed.sizes[i] ?? 0;
    packed = {
      payload: batch.compressed.payload.subarray(offset),
      sizes: batch.compressed.sizes.subarray(at, at + count),
    };
  } else if (compress && !zero.every((z) => z === 1)) {
    packed = await compressBlocks(buffer, blockSize);
  }
  const kinds = new Uint8Array(count);
  const sizes = new Uint32Array(count);
  const payload: Buffer[] = [];
  let lz4At = 0;
  let rawStart = -1; // start of a run of raw blocks, sent as one slice
  const endRaw = (to: number) => {
    if (rawStart >= 0) payload.push(buffer.subarray(rawStart, to));
    rawStart = -1;
  };
  for (let i = 0; i < count; i++) {
    const from = i * blockSize;
    const n = Math.min(blockSize, length - from);
    const size = packed?.sizes[i] ?? 0;
    if (zero[i] === 1) {
      endRaw(from);
      kinds[i] = BlockKind.zero;
      stats.zeroBytes += n;
    } else if (size > 0 && packed !== undefined) {
      endRaw(from);
      kinds[i] = BlockKind.lz4;
      sizes[i] = size;
      payload.push(packed.payload.subarray(lz4At, lz4At + size));
      stats.compressedInBytes += n;
      stats.compressedOutBytes += size;
    } else {
      if (rawStart < 0) rawStart = from;
      kinds[i] = BlockKind.raw;
      sizes[i] = n;
      stats.rawBytes += n;
    }
    lz4At += size;
  }
  endRaw(length);
  return { firstBlock: batch.firstBlock + at, kinds, sizes, payload };
}
