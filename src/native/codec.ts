/**
 * Byte work on memory: per-block digests, lz4 compression of a batch, and the
 * bounded decoding of received blocks. All of it runs on worker threads.
 */
import { checkBytes, checkInteger, checkSeed, invalid } from "../validate.js";
import { addon } from "./addon.js";
import { DIGEST_SIZE, MAX_BATCH_BYTES, MAX_BLOCKS_PER_CALL } from "./limits.js";
import { callNative, callNativeSync } from "./native-error.js";
import { pin } from "./pin.js";

export interface Digests {
  /** 16 bytes per block: XXH3-128 of the block, canonical big-endian. */
  digests: Buffer;
  /** 1 per all-zero block, 0 otherwise. */
  zero: Buffer;
}

export interface Compressed {
  /** Compressed blocks packed one after another (raw blocks are not copied here). */
  payload: Buffer;
  /** Compressed size of each block, or 0 where the block stays raw (it did not shrink by 1/16). */
  sizes: Uint32Array;
}

/** How a block travels: its own bytes, lz4, or nothing (all zero). */
export const BlockKind = { raw: 0, lz4: 1, zero: 2 } as const;
export type BlockKind = (typeof BlockKind)[keyof typeof BlockKind];

function checkBatch(what: string, data: unknown): Uint8Array {
  const bytes = checkBytes(what, data);
  if (bytes.length > MAX_BATCH_BYTES) throw invalid(what, `at most ${MAX_BATCH_BYTES} bytes`, bytes);
  return bytes;
}

function checkBlockSize(blockSize: unknown, length: number): number {
  const n = checkInteger("blockSize", blockSize, 1, 2 ** 30);
  if (Math.ceil(length / n) > MAX_BLOCKS_PER_CALL) {
    throw invalid("blockSize", `at least ${Math.ceil(length / MAX_BLOCKS_PER_CALL)} for ${length} bytes`, blockSize);
  }
  return n;
}

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/** Digests `data` in blocks of `blockSize` (the last may be shorter). */
export async function digestBlocks(data: Uint8Array, blockSize: number, seed: bigint): Promise<Digests> {
  checkBlockSize(blockSize, checkBatch("data", data).length);
  checkSeed("seed", seed);
  return callNative(() => addon.digestBlocks(pin(data), blockSize, seed));
}

/** Compresses each block of `data` with lz4, keeping blocks that do not shrink enough raw. */
export async function compressBlocks(data: Uint8Array, blockSize: number): Promise<Compressed> {
  checkBlockSize(blockSize, checkBatch("data", data).length);
  return callNative(() => addon.compressBlocks(pin(data), blockSize));
}

/**
 * Rebuilds `dst` (whole blocks of `blockSize`, the last may be shorter) from
 * `src`, where block i takes sizes[i] bytes encoded as kinds[i]. Input from a
 * peer is untrusted: a size past the input, an lz4 block that does not decode
 * to exactly its block's length, or an unknown kind rejects with E_CORRUPT.
 */
export async function decodeBlocks(
  src: Uint8Array,
  sizes: Uint32Array,
  kinds: Uint8Array,
  dst: Uint8Array,
  blockSize: number,
): Promise<void> {
  checkBatch("src", src);
  checkBlockSize(blockSize, checkBatch("dst", dst).length);
  if (overlaps(src, dst)) throw invalid("dst", "memory apart from src", dst);
  const blocks = Math.ceil(dst.length / blockSize);
  if (!(sizes instanceof Uint32Array) || sizes.length < blocks) {
    throw invalid("sizes", `a Uint32Array of ${blocks} entries`, sizes);
  }
  if (checkBytes("kinds", kinds).length < blocks) throw invalid("kinds", `${blocks} entries`, kinds);
  return callNative(() => addon.decodeBlocks(pin(src), pin(sizes), pin(kinds), pin(dst), blockSize));
}

/** Blocks decoded into place are also digested, and their fingerprint contribution summed (see foldDigests). */
export interface Fold {
  blockSize: number;
  seed: bigint;
  /** The volume's index of the first block of `dst`. */
  firstBlock: number;
  /** Instead: the runs of blocks (BLOCK_RUNS) dst holds one after another, in order; counts add up to dst's blocks. */
  runs?: ReadonlyArray<{ first: number; count: number }>;
}

/** What decodeUnits returns with a fold: the sum of the blocks' contributions, and 1 per all-zero block. */
export interface Folded {
  sum: Buffer;
  zero: Buffer;
}

/**
 * Decodes a message's units (blocks, or two-level pieces) from `parts`, the
 * payload as the chunks it arrived in (read in order, never copied first),
 * into `dst`: unit i at offsets[i] (default i * unit), min(unit, room left)
 * bytes each. With `fold`, the whole of `dst` is then digested and folded in
 * the same worker call. Untrusted input: sizes past the input, input left
 * over, units outside `dst` or out of order, and lz4 units that do not decode
 * to exactly their length reject with E_CORRUPT.
 */
export async function decodeUnits(
  parts: Uint8Array[],
  sizes: Uint32Array,
  kinds: Uint8Array,
  dst: Uint8Array,
  unit: number,
  options: { offsets?: Uint32Array; fold: Fold },
): Promise<Folded>;
export async function decodeUnits(
  parts: Uint8Array[],
  sizes: Uint32Array,
  kinds: Uint8Array,
  dst: Uint8Array,
  unit: number,
  options?: { offsets?: Uint32Array },
): Promise<undefined>;
export async function decodeUnits(
  parts: Uint8Array[],
  sizes: Uint32Array,
  kinds: Uint8Array,
  dst: Uint8Array,
  unit: number,
  options: { offsets?: Uint32Array; fold?: Fold } = {},
): Promise<Folded | undefined> {
  const count = checkBytes("kinds", kinds).length;
  checkBatch("dst", dst);
  checkInteger("unit", unit, 1, 2 ** 30);
  for (const part of parts) {
    checkBytes("parts", part);
    if (overlaps(part, dst)) throw invalid("dst", "memory apart from the parts", dst);
  }
  if (!(sizes instanceof Uint32Array) || sizes.length < count) throw invalid("sizes", `${count} entries`, sizes);
  const { offsets, fold } = options;
  if (offsets !== undefined && (!(offsets instanceof Uint32Array) || offsets.length < count)) {
    throw invalid("offsets", `a Uint32Array of ${count} entries`, offsets);
  }
  if (fold !== undefined) {
    checkBlockSize(fold.blockSize, dst.length);
    checkSeed("seed", fold.seed);
    checkInteger("firstBlock", fold.firstBlock);
  }
  const foldArg: [number, bigint, number, number[]?] | null =
    fold === undefined ? null : [fold.blockSize, fold.seed, fold.firstBlock];
  if (fold?.runs !== undefined) foldArg?.push(fold.runs.flatMap((r) => [r.first, r.count]));
  return callNative(() =>
    addon.receiveUnits(parts.map(pin), pin(sizes), pin(kinds), pin(dst), unit, offsets ? pin(offsets) : null, foldArg),
  );
}

/**
 * Adds blocks to a whole-volume fingerprint: block i with digest d adds
 * XXH3-128(i || d, seed) to a 128-bit sum (see native/core/digest.h). Returns
 * the new 16-byte sum. With `repeat`, the one digest given stands for `count`
 * blocks (a zero run).
 */
export async function foldDigests(
  acc: Uint8Array,
  digests: Uint8Array,
  count: number,
  firstBlock: number,
  seed: bigint,
  repeat = false,
): Promise<Buffer> {
  if (checkBytes("acc", acc).length !== DIGEST_SIZE) throw invalid("acc", `${DIGEST_SIZE} bytes`, acc);
  checkInteger("count", count);
  checkInteger("firstBlock", firstBlock);
  const needed = repeat ? Math.min(count, 1) * DIGEST_SIZE : count * DIGEST_SIZE;
  if (checkBytes("digests", digests).length < needed) throw invalid("digests", `${needed} bytes`, digests);
  checkSeed("seed", seed);
  return callNative(() => addon.foldDigests(acc, pin(digests), count, firstBlock, seed, repeat));
}

/** Memory aligned for O_DIRECT (uninitialised, as Buffer.allocUnsafe). */
export function allocAligned(size: number, alignment = 4096): Buffer {
  checkInteger("size", size, 0, MAX_BATCH_BYTES);
  checkInteger("alignment", alignment, 1, 1 << 20);
  if ((alignment & (alignment - 1)) !== 0) throw invalid("alignment", "a power of two", alignment);
  return callNativeSync(() => addon.allocAligned(size, alignment));
}
