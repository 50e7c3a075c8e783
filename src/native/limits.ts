/** Block sizes blockferry accepts: powers of two in this range. */
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024;
/** Bytes in one digest: XXH3-128, canonical big-endian. */
export const DIGEST_SIZE = 16;
/** Largest single native call on memory (buffers above this are split by callers). */
export const MAX_BATCH_BYTES = 2 ** 31;
/** Most blocks one native digest or compression call covers (bounds its output). */
export const MAX_BLOCKS_PER_CALL = 1 << 22;
