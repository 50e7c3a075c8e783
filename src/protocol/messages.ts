/**
 * blockferry wire protocol, version 5 (4 had no BLOCK_RUNS, 3 no two-level comparison in cached mode, 2 no
 * directories, 1 no digest cache and no two-level comparison). S is the source (it reads the volume
 * and sends it), T is the target (it writes the copy).
 *
 *   S → T  HELLO     magic, version, target name, source size, block size, flags, source id,
 *                    the generation and fingerprint of S's digest cache of T (0 if none),
 *                    fine block size (0: no two-level comparison)
 *   T → S  WELCOME   version, target size, sector size, flags (block device, compare, cached),
 *                    digest seed, resume block, fingerprint of blocks [0, resume block),
 *                    checkpoint interval, the generation this sync will give T's copy, and why
 *                    a cache offered was refused ("" if none)
 *          (or T → S ERROR and close: unknown target, too small, busy, bad version)
 *   S → T  START     first block S will send: the resume block, or 0 to start over
 *   T → S  DIGESTS   first block, count, digests (or "all zero")   } only when WELCOME said
 *                    of the target's own blocks, in order, a bounded } "compare": the target
 *                    distance ahead of what S has sent                } holds an earlier copy
 *                    ("cached": S compares against its digest cache; T reads only what
 *                    S offers piece by piece)
 *   S → T  BLOCKS    first block, count, one kind and size per block, payload  } in block order,
 *   S → T  ZERO_RUN  first block, count (all-zero blocks, holes)               } no gap, no
 *   S → T  SAME_RUN  first block, count (blocks the target already holds)      } overlap
 *   S → T  BLOCK_RUNS runs (first block, count) in order with gaps between, then } cached mode:
 *                    one kind and size per block of the runs, payload; the gaps  } scattered
 *                    are blocks the target holds (as SAME_RUN), within a checkpoint interval
 *   S → T  FINE_OFFER first block, count, digests of the blocks' fine pieces   } compare/cached:
 *   T → S  FINE_NEED  first block, count, bitmap of the pieces T lacks         } changed blocks,
 *   S → T  FINE_BLOCKS first block, then those pieces as BLOCKS lays blocks out } two levels
 *                    (FINE_OFFER takes a block range's place in the order; its FINE_BLOCKS
 *                    follow later, in the order of the offers, before any checkpoint or END)
 *   T → S  ACK       blocks done, fingerprint of blocks [0, done)   (each checkpoint: written,
 *                    synced, recorded in the target's state file)
 *   S → T  END       block count, source fingerprint of the whole volume, and (cached
 *                    mode) the cache's fingerprint of the blocks S replaced
 *   T → S  DONE      target fingerprint, verified flag (T marks the copy complete only if they
 *                    match), bytes T read of its volume, milliseconds T spent writing
 *   then, if HELLO named directories (--with-dir) and DONE confirmed the copy, for each in order:
 *   S → T  DIR_BEGIN index, the root's mode, owner, mtime
 *   S → T  DIR_ENTRY kind (dir, file, symlink), relative path, mode, owner, mtime, size,  } parents
 *                    symlink target                                                     } first,
 *   S → T  DIR_DATA  the bytes of the file whose entry came last, up to its size         } sorted
 *   S → T  DIR_END   index, entry count, file bytes, sha256 of BEGIN, ENTRYs and DATAs
 *   T → S  DIR_DONE  index, entries, bytes: the tree is in place (built beside it, renamed in)
 *                    (layouts in dir-messages.ts)
 *   or, when HELLO carried the "probe" flag (`blockferry bench --to`), instead of START on:
 *          T authorizes and resolves the target as for a copy, writes nothing and records
 *          nothing, answers WELCOME, then any number of, in any order:
 *   S → T  PROBE_ECHO  up to 64 bytes; T → S the same bytes back (round-trip time)
 *   S → T  PROBE       up to 16 MiB of incompressible bytes; T discards them and answers
 *                      PROBE_ECHO with the u64 count of PROBE bytes received so far (goodput)
 *   S → T  PROBE_READ  most bytes, most milliseconds, phase: T reads a sample of its own
 *                      volume as a delta would (O_DIRECT, digested); after each batch
 *   T → S  PROBE_ECHO  16 bytes: bytes read so far, bytes of its volume that hold data
 *                      (S keeps its own reads in step), and at the end
 *   T → S  PROBE_READ_RESULT  bytes read, microseconds, bytes of its volume that hold data
 *          until S closes; T closes after it
 *   either ERROR     code, message; the sender then closes
 *   either PING      nothing: sent after 15 s of silence (a long re-read, a slow zero-out), so
 *                    that 60 s without a byte means the peer is gone
 *
 * Every frame is: u32 length of what follows, u8 type, body. Lengths are
 * capped per type before any body is buffered; unknown types are rejected.
 */
import type { ErrorCode } from "../errors.js";
import { DIGEST_SIZE } from "../native/index.js";

export const MAGIC = Buffer.from("BFERRY\r\n", "latin1");
/** 5: BLOCK_RUNS (4: the two-level comparison runs in cached mode too). */
export const PROTOCOL_VERSION = 5;
/** A whole-volume fingerprint (a 128-bit sum of per-block parts), as it travels. */
export const FINGERPRINT_SIZE = 16;
export const MAX_NAME_BYTES = 255;
export const MAX_MESSAGE_BYTES = 1024;
/** Most blocks, and bytes once decoded (or one block, if larger), one BLOCKS message may carry. */
export const MAX_BLOCKS_PER_MESSAGE = 8192;
export const MAX_BLOCKS_BYTES = 16 * 1024 * 1024;
/** How far (in volume bytes) the target's DIGESTS may run ahead of the blocks the source has answered for. */
export const DIGESTS_AHEAD_BYTES = 1024 * 1024 * 1024;
const MAX_BLOCKS_PAYLOAD = MAX_BLOCKS_BYTES;
/** Smallest fine piece of a two-level comparison: a FINE_BLOCKS then holds at most 4096 pieces. */
export const MIN_FINE_SIZE = 4096;
/** --with-dir: directories one HELLO may name, a path's length, and the file bytes one DIR_DATA carries. */
export const MAX_DIRS = 16;
export const MAX_DIR_PATH_BYTES = 4096;
export const MAX_DIR_DATA_BYTES = 1024 * 1024;
/** The probe (bench --to): one PROBE's payload, one PROBE_ECHO's body, one PROBE_READ's reach. */
export const MAX_PROBE_BYTES = 16 * 1024 * 1024;
export const MAX_PROBE_ECHO_BYTES = 64;
export const MAX_PROBE_READ_BYTES = 4 * 1024 ** 3;
export const MAX_PROBE_READ_MS = 30_000;

export const MessageType = {
  hello: 1,
  welcome: 2,
  start: 3,
  blocks: 4,
  zeroRun: 5,
  ack: 6,
  end: 7,
  done: 8,
  error: 9,
  ping: 10,
  digests: 11,
  sameRun: 12,
  fineOffer: 13,
  fineNeed: 14,
  fineBlocks: 15,
  dirBegin: 16,
  dirEntry: 17,
  dirData: 18,
  dirEnd: 19,
  dirDone: 20,
  probe: 21,
  probeEcho: 22,
  probeRead: 23,
  probeReadResult: 24,
  blockRuns: 25,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** A BLOCKS (or FINE_BLOCKS) header: first block (u64), count (u32), then a kind (u8) and a size (u32) per block. */
export function blocksHeaderBytes(count: number): number {
  return 12 + 5 * count;
}

/** A BLOCK_RUNS header: run count (u32), first block (u64) and count (u32) per run, a kind and a size per block. */
export function blockRunsHeaderBytes(runs: number, blocks: number): number {
  return 4 + 12 * runs + 5 * blocks;
}

const CONTROL_MAX = 4096;
/** Largest body each type may declare, checked before the body is read. */
export const MAX_BODY: Record<MessageType, number> = {
  [MessageType.hello]: CONTROL_MAX + MAX_DIRS * (2 + MAX_DIR_PATH_BYTES),
  [MessageType.welcome]: CONTROL_MAX,
  [MessageType.start]: CONTROL_MAX,
  [MessageType.blocks]: blocksHeaderBytes(MAX_BLOCKS_PER_MESSAGE) + MAX_BLOCKS_PAYLOAD,
  [MessageType.zeroRun]: CONTROL_MAX,
  [MessageType.ack]: CONTROL_MAX,
  [MessageType.end]: CONTROL_MAX,
  [MessageType.done]: CONTROL_MAX,
  [MessageType.error]: CONTROL_MAX,
  [MessageType.ping]: 0,
  [MessageType.digests]: 13 + DIGEST_SIZE * MAX_BLOCKS_PER_MESSAGE,
  [MessageType.sameRun]: CONTROL_MAX,
  [MessageType.fineOffer]: 12 + DIGEST_SIZE * (MAX_BLOCKS_BYTES / MIN_FINE_SIZE),
  [MessageType.fineNeed]: CONTROL_MAX,
  [MessageType.fineBlocks]: blocksHeaderBytes(MAX_BLOCKS_PER_MESSAGE) + MAX_BLOCKS_PAYLOAD,
  [MessageType.dirBegin]: CONTROL_MAX,
  [MessageType.dirEntry]: 2 * MAX_DIR_PATH_BYTES + 64,
  [MessageType.dirData]: MAX_DIR_DATA_BYTES,
  [MessageType.dirEnd]: CONTROL_MAX,
  [MessageType.dirDone]: CONTROL_MAX,
  [MessageType.probe]: MAX_PROBE_BYTES,
  [MessageType.probeEcho]: MAX_PROBE_ECHO_BYTES,
  [MessageType.probeRead]: CONTROL_MAX,
  [MessageType.probeReadResult]: CONTROL_MAX,
  [MessageType.blockRuns]: blockRunsHeaderBytes(MAX_BLOCKS_PER_MESSAGE, MAX_BLOCKS_PER_MESSAGE) + MAX_BLOCKS_PAYLOAD,
};

export function isMessageType(t: number): t is MessageType {
  return t >= MessageType.hello && t <= MessageType.blockRuns;
}

export interface HelloFlags {
  compress: boolean;
  full: boolean;
  verify: boolean;
  /** Compare only: the source sends SAME_RUNs as progress, the target writes and records nothing. */
  dryRun: boolean;
  /** bench --to: measure the link and the target's reads; nothing is written or recorded. */
  probe?: boolean;
  /** Write the target even though it was written since its last sync, or promoted (--force). */
  force?: boolean;
  /**
   * The source's storage listed what changed since the sync its digest cache
   * records (thin_delta): if the target takes the cache, only those blocks are offered.
   */
  tracked?: boolean;
}
export interface Hello {
  version: number;
  targetName: string;
  sourceSize: number;
  blockSize: number;
  flags: HelloFlags;
  sourceId: string;
  /** S's digest cache of this target, offered; generation 0: none. */
  cacheGeneration: number;
  cacheFingerprint: Buffer;
  /** Pieces of changed blocks compared in a second round (0: off). */
  fineSize: number;
  /** --with-dir: where the directories sent after DONE go on the receiving host (absolute paths). */
  dirs: string[];
}
export interface Welcome {
  version: number;
  targetSize: number;
  sectorSize: number;
  isBlockDevice: boolean;
  /** The target holds an earlier copy and will stream its digests: send only what differs. */
  compare: boolean;
  /** The target accepted the source's digest cache: compare against it; the target reads only offered blocks. */
  cached: boolean;
  seed: bigint;
  resumeBlock: number;
  resumeFingerprint: Buffer;
  checkpointBlocks: number;
  /** The generation the target's copy will have once this sync completes. */
  generation: number;
  /** Why the target refused the cache offered; "" when it accepted or none was offered. */
  cacheRefusal: string;
}
export interface Start {
  fromBlock: number;
}
export interface Blocks {
  firstBlock: number;
  kinds: Uint8Array;
  sizes: Uint32Array;
  /** The payload, as the chunks it was sent in (one chunk when received). */
  payload: Buffer[];
}
export interface ZeroRun {
  firstBlock: number;
  count: number;
}
/**
 * BLOCK_RUNS: runs of blocks in order, each after a gap of at least one
 * block the target holds; kinds, sizes and payload as BLOCKS lays out the
 * runs' blocks one after another.
 */
export interface BlockRuns {
  runs: Array<{ first: number; count: number }>;
  kinds: Uint8Array;
  sizes: Uint32Array;
  payload: Buffer[];
}
/** A run of blocks: SAME_RUN uses this shape too. */
export type SameRun = ZeroRun;
export interface Digests {
  firstBlock: number;
  count: number;
  /** Digests of the blocks, 16 bytes each; undefined when all of them are zero. */
  digests: Buffer | undefined;
}
/** FINE_OFFER: the source's digests of the fine pieces of blocks that differ. */
export interface FineOffer {
  firstBlock: number;
  count: number;
  digests: Buffer;
}
/** FINE_NEED: 1 bits for the pieces of the offer the target does not hold. */
export interface FineNeed {
  firstBlock: number;
  count: number;
  bitmap: Buffer;
}
export interface Ack {
  blocksDone: number;
  fingerprint: Buffer;
}
export interface End {
  blockCount: number;
  fingerprint: Buffer;
  /** Cached mode: the fold of the cache's digests of every block sent (what the target replaced). */
  replaced: Buffer;
}
export interface Done {
  fingerprint: Buffer;
  verified: boolean;
  targetReadBytes: number;
  targetWriteMs: number;
}
/** PROBE_READ: read at most this much of the target's volume, for at most this long. */
export interface ProbeRead {
  maxBytes: number;
  maxMs: number;
  /** Shifts the sampled places, so that a second sample reads other blocks. */
  phase: number;
}
/** PROBE_ECHO acknowledging PROBE payloads. */
export interface ProbeReceived {
  bytes: number;
}
/** PROBE_ECHO sent during a PROBE_READ. */
export interface ProbeReadProgress {
  bytes: number;
  dataBytes: number;
}
export interface ProbeReadResult {
  bytes: number;
  micros: number;
  /** Bytes of the target's volume (up to the source's size) that hold data: what a delta's comparison reads. */
  dataBytes: number;
}
export interface ErrorMessage {
  code: ErrorCode;
  message: string;
}
