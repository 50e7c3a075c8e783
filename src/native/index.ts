/** The native core, typed. Nothing else in src/ imports the addon directly. */
export {
  allocAligned,
  BlockKind,
  type Compressed,
  compressBlocks,
  type Digests,
  decodeBlocks,
  decodeUnits,
  digestBlocks,
  type Fold,
  type Folded,
  foldDigests,
} from "./codec.js";
export { DIGEST_SIZE, MAX_BATCH_BYTES, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from "./limits.js";
export {
  type OpenOptions,
  openVolume,
  type ReadOptions,
  type ReadResult,
  Volume,
  type VolumeInfo,
  type WriteOptions,
  type WriteResult,
  type ZeroMethod,
} from "./volume.js";
