/**
 * blockferry wire protocol, version 3 (2 had no directories, 1 no digest cache and no two-level comparison). S is the source (it reads the volume
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
 *                    ("cached": S compares against its digest cache; T reads nothing)
 *   S → T  BLOCKS    first block, count, one kind and size per block, payload  } in block order,
 *   S → T  ZERO_RUN  first block, count (all-zero blocks, holes)               } no gap, no
 *   S → T  SAME_RUN  first block, count (blocks the target already holds)      } overlap
 *   S → T  FINE_OFFER first block, count, digests of the blocks' fine pieces   } compare mode:
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
import { BlockferryError, type ErrorCode, isErrorCode } from "../errors.js";
import { BlockKind, DIGEST_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from "../native/index.js";
import { BodyReader, BodyWriter, protocolError } from "./body.js";

export const MAGIC = Buffer.from("BFERRY\r\n", "latin1");
export const PROTOCOL_VERSION = 3;
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
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const CONTROL_MAX = 4096;
/** Largest body each type may declare, checked before the body is read. */
export const MAX_BODY: Record<MessageType, number> = {
  [MessageType.hello]: CONTROL_MAX + MAX_DIRS * (2 + MAX_DIR_PATH_BYTES),
  [MessageType.welcome]: CONTROL_MAX,
  [MessageType.start]: CONTROL_MAX,
  [MessageType.blocks]: 12 + 5 * MAX_BLOCKS_PER_MESSAGE + MAX_BLOCKS_PAYLOAD,
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
  [MessageType.fineBlocks]: 12 + 5 * MAX_BLOCKS_PER_MESSAGE + MAX_BLOCKS_PAYLOAD,
  [MessageType.dirBegin]: CONTROL_MAX,
  [MessageType.dirEntry]: 2 * MAX_DIR_PATH_BYTES + 64,
  [MessageType.dirData]: MAX_DIR_DATA_BYTES,
  [MessageType.dirEnd]: CONTROL_MAX,
  [MessageType.dirDone]: CONTROL_MAX,
  [MessageType.probe]: MAX_PROBE_BYTES,
  [MessageType.probeEcho]: MAX_PROBE_ECHO_BYTES,
  [MessageType.probeRead]: CONTROL_MAX,
  [MessageType.probeReadResult]: CONTROL_MAX,
};

export function isMessageType(t: number): t is MessageType {
  return t >= MessageType.hello && t <= MessageType.probeReadResult;
}

export interface HelloFlags {
  compress: boolean;
  full: boolean;
  verify: boolean;
  /** Compare only: the source sends SAME_RUNs as progress, the target writes and records nothing. */
  dryRun: boolean;
  /** bench --to: measure the link and the target's reads; nothing is written or recorded. */
  probe?: boolean;
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
  /** The target accepted the source's digest cache: compare against it, the target reads nothing. */
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

/** ZERO_RUN and SAME_RUN: a range of blocks and nothing else. */
function runCodec(name: string) {
  return {
    encode: (m: ZeroRun): Buffer[] => [new BodyWriter().u64(m.firstBlock).u64(m.count).toBuffer()],
    decode(body: Buffer): ZeroRun {
      const r = new BodyReader(body, name);
      const m = { firstBlock: r.u64(), count: r.u64() };
      r.end();
      if (m.count === 0) throw protocolError(`${name} of 0 blocks`);
      return m;
    },
  };
}

const helloFlagBits = { compress: 1, full: 2, verify: 4, dryRun: 8, probe: 16 } as const;

export const codecs = {
  hello: {
    encode(m: Hello): Buffer[] {
      let flags = 0;
      for (const [k, bit] of Object.entries(helloFlagBits)) if (m.flags[k as keyof HelloFlags]) flags |= bit;
      const w = new BodyWriter().bytes(MAGIC).u16(m.version).string(m.targetName, MAX_NAME_BYTES);
      w.u64(m.sourceSize).u32(m.blockSize).u32(flags).string(m.sourceId, MAX_NAME_BYTES);
      w.u64(m.cacheGeneration).bytes(m.cacheFingerprint).u32(m.fineSize).u8(m.dirs.length);
      for (const dir of m.dirs) w.string(dir, MAX_DIR_PATH_BYTES);
      return [w.toBuffer()];
    },
    decode(body: Buffer): Hello {
      const r = new BodyReader(body, "HELLO");
      if (!r.bytes(MAGIC.length).equals(MAGIC)) throw protocolError("the peer is not a blockferry source");
      const version = r.u16();
      if (version !== PROTOCOL_VERSION) {
        // Nothing after the version is read: a later version may lay it out otherwise.
        const none = { cacheGeneration: 0, cacheFingerprint: Buffer.alloc(DIGEST_SIZE), fineSize: 0, dirs: [] };
        return { version, targetName: "", sourceSize: 0, blockSize: 0, flags: noFlags(), sourceId: "", ...none };
      }
      const targetName = r.string(MAX_NAME_BYTES);
      const sourceSize = r.u64();
      const blockSize = r.u32();
      const bits = r.u32();
      const sourceId = r.string(MAX_NAME_BYTES);
      const cacheGeneration = r.u64();
      const cacheFingerprint = Buffer.from(r.bytes(DIGEST_SIZE));
      const fineSize = r.u32();
      const dirCount = r.u8();
      if (dirCount > MAX_DIRS) throw protocolError(`HELLO: ${dirCount} directories, at most ${MAX_DIRS}`);
      const dirs: string[] = [];
      for (let i = 0; i < dirCount; i++) dirs.push(r.string(MAX_DIR_PATH_BYTES));
      r.end();
      for (const dir of dirs) {
        if (!dir.startsWith("/") || dir.includes("\0"))
          throw protocolError(`HELLO: directory ${JSON.stringify(dir)} is not an absolute path`);
      }
      if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
        throw protocolError(
          `HELLO: block size ${blockSize} is not a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`,
        );
      }
      if (bits & ~31) throw protocolError(`HELLO: unknown flags ${bits}`);
      if (fineSize !== 0 && (fineSize < MIN_FINE_SIZE || fineSize >= blockSize || (fineSize & (fineSize - 1)) !== 0)) {
        throw protocolError(`HELLO: fine size ${fineSize} is not 0 or a power of two from 4096 to below ${blockSize}`);
      }
      const flags: HelloFlags = {
        compress: !!(bits & 1),
        full: !!(bits & 2),
        verify: !!(bits & 4),
        dryRun: !!(bits & 8),
        // Only when set: hellos of a copy stay as they were.
        ...(bits & 16 ? { probe: true } : {}),
      };
      return {
        version,
        targetName,
        sourceSize,
        blockSize,
        flags,
        sourceId,
        cacheGeneration,
        cacheFingerprint,
        fineSize,
        dirs,
      };
    },
  },
  welcome: {
    encode(m: Welcome): Buffer[] {
      const w = new BodyWriter()
        .u16(m.version)
        .u64(m.targetSize)
        .u32(m.sectorSize)
        .u8((m.isBlockDevice ? 1 : 0) | (m.compare ? 2 : 0) | (m.cached ? 4 : 0));
      w.u64(m.seed).u64(m.resumeBlock).bytes(m.resumeFingerprint).u32(m.checkpointBlocks);
      w.u64(m.generation).string(m.cacheRefusal, MAX_NAME_BYTES);
      return [w.toBuffer()];
    },
    decode(body: Buffer): Welcome {
      const r = new BodyReader(body, "WELCOME");
      const version = r.u16();
      if (version !== PROTOCOL_VERSION) {
        throw new BlockferryError(
          "E_VERSION",
          `the target speaks protocol version ${version}, this blockferry ${PROTOCOL_VERSION}`,
        );
      }
      const targetSize = r.u64();
      const sectorSize = r.u32();
      const flags = r.u8();
      if (flags & ~7 || (flags & 6) === 6) throw protocolError(`WELCOME: unknown flags ${flags}`);
      const m: Welcome = {
        version,
        targetSize,
        sectorSize,
        isBlockDevice: (flags & 1) !== 0,
        compare: (flags & 2) !== 0,
        cached: (flags & 4) !== 0,
        seed: r.bigU64(),
        resumeBlock: r.u64(),
        resumeFingerprint: Buffer.from(r.bytes(DIGEST_SIZE)),
        checkpointBlocks: r.u32(),
        generation: r.u64(),
        cacheRefusal: r.string(MAX_NAME_BYTES),
      };
      r.end();
      if (m.checkpointBlocks === 0) throw protocolError("WELCOME: checkpoint interval of 0 blocks");
      return m;
    },
  },
  start: {
    encode: (m: Start): Buffer[] => [new BodyWriter().u64(m.fromBlock).toBuffer()],
    decode(body: Buffer): Start {
      const r = new BodyReader(body, "START");
      const m = { fromBlock: r.u64() };
      r.end();
      return m;
    },
  },
  blocks: {
    encode(m: Blocks): Buffer[] {
      const count = m.kinds.length;
      const header = Buffer.allocUnsafe(12 + 5 * count);
      header.writeBigUInt64BE(BigInt(m.firstBlock), 0);
      header.writeUInt32BE(count, 8);
      header.set(m.kinds, 12);
      for (let i = 0; i < count; i++) header.writeUInt32BE(m.sizes[i] ?? 0, 12 + count + 4 * i);
      return [header, ...m.payload];
    },
    decode(body: Buffer, blockSize: number): Blocks {
      const r = new BodyReader(body, "BLOCKS");
      const firstBlock = r.u64();
      const count = r.u32();
      if (count === 0 || count > MAX_BLOCKS_PER_MESSAGE || (count > 1 && count * blockSize > MAX_BLOCKS_BYTES)) {
        throw protocolError(`BLOCKS: ${count} blocks of ${blockSize} bytes in one message`);
      }
      const kinds = new Uint8Array(r.bytes(count));
      const sizes = new Uint32Array(count);
      let total = 0;
      for (let i = 0; i < count; i++) {
        const size = r.u32();
        const kind = kinds[i];
        if (
          kind === BlockKind.zero
            ? size !== 0
            : kind === BlockKind.raw || kind === BlockKind.lz4
              ? size > blockSize || size === 0
              : true
        ) {
          throw protocolError(`BLOCKS: block ${firstBlock + i} has kind ${kind} and size ${size}`);
        }
        sizes[i] = size;
        total += size;
      }
      if (total !== r.remaining())
        throw protocolError(`BLOCKS: sizes add up to ${total}, payload has ${r.remaining()}`);
      return { firstBlock, kinds, sizes, payload: [r.bytes(total)] };
    },
  },
  zeroRun: runCodec("ZERO_RUN"),
  sameRun: runCodec("SAME_RUN"),
  digests: {
    encode(m: Digests): Buffer[] {
      const head = new BodyWriter()
        .u64(m.firstBlock)
        .u32(m.count)
        .u8(m.digests === undefined ? 1 : 0)
        .toBuffer();
      return m.digests === undefined ? [head] : [head, m.digests];
    },
    decode(body: Buffer): Digests {
      const r = new BodyReader(body, "DIGESTS");
      const firstBlock = r.u64();
      const count = r.u32();
      const allZero = r.u8();
      if (count === 0 || count > MAX_BLOCKS_PER_MESSAGE || allZero > 1) {
        throw protocolError(`DIGESTS: ${count} blocks, flag ${allZero}`);
      }
      const digests = allZero === 1 ? undefined : Buffer.from(r.bytes(count * DIGEST_SIZE));
      r.end();
      return { firstBlock, count, digests };
    },
  },
  fineOffer: {
    encode: (m: FineOffer): Buffer[] => [new BodyWriter().u64(m.firstBlock).u32(m.count).toBuffer(), m.digests],
    decode(body: Buffer): FineOffer {
      const r = new BodyReader(body, "FINE_OFFER");
      const firstBlock = r.u64();
      const count = r.u32();
      const n = r.remaining();
      if (count === 0 || n === 0 || n % DIGEST_SIZE !== 0)
        throw protocolError(`FINE_OFFER: ${count} blocks, ${n} bytes`);
      return { firstBlock, count, digests: Buffer.from(r.bytes(n)) };
    },
  },
  fineNeed: {
    encode: (m: FineNeed): Buffer[] => [new BodyWriter().u64(m.firstBlock).u32(m.count).bytes(m.bitmap).toBuffer()],
    decode(body: Buffer): FineNeed {
      const r = new BodyReader(body, "FINE_NEED");
      const firstBlock = r.u64();
      const count = r.u32();
      return { firstBlock, count, bitmap: Buffer.from(r.bytes(r.remaining())) };
    },
  },
  ack: {
    encode: (m: Ack): Buffer[] => [new BodyWriter().u64(m.blocksDone).bytes(m.fingerprint).toBuffer()],
    decode(body: Buffer): Ack {
      const r = new BodyReader(body, "ACK");
      const m = { blocksDone: r.u64(), fingerprint: Buffer.from(r.bytes(DIGEST_SIZE)) };
      r.end();
      return m;
    },
  },
  end: {
    encode: (m: End): Buffer[] => [
      new BodyWriter().u64(m.blockCount).bytes(m.fingerprint).bytes(m.replaced).toBuffer(),
    ],
    decode(body: Buffer): End {
      const r = new BodyReader(body, "END");
      const blockCount = r.u64();
      const m = {
        blockCount,
        fingerprint: Buffer.from(r.bytes(DIGEST_SIZE)),
        replaced: Buffer.from(r.bytes(DIGEST_SIZE)),
      };
      r.end();
      return m;
    },
  },
  done: {
    encode: (m: Done): Buffer[] => [
      new BodyWriter()
        .bytes(m.fingerprint)
        .u8(m.verified ? 1 : 0)
        .u64(m.targetReadBytes)
        .u64(m.targetWriteMs)
        .toBuffer(),
    ],
    decode(body: Buffer): Done {
      const r = new BodyReader(body, "DONE");
      const m = {
        fingerprint: Buffer.from(r.bytes(DIGEST_SIZE)),
        verified: r.u8() === 1,
        targetReadBytes: r.u64(),
        targetWriteMs: r.u64(),
      };
      r.end();
      return m;
    },
  },
  probe: {
    encode: (payload: Buffer): Buffer[] => [payload],
    /** The payload is only counted, never kept. */
    decode(body: Buffer): { bytes: number } {
      if (body.length === 0) throw protocolError("PROBE of 0 bytes");
      return { bytes: body.length };
    },
  },
  probeEcho: {
    encode: (body: Buffer): Buffer[] => [body],
    decode: (body: Buffer): Buffer => Buffer.from(body),
  },
  probeRead: {
    encode: (m: ProbeRead): Buffer[] => [new BodyWriter().u64(m.maxBytes).u32(m.maxMs).u16(m.phase).toBuffer()],
    decode(body: Buffer): ProbeRead {
      const r = new BodyReader(body, "PROBE_READ");
      const m = { maxBytes: r.u64(), maxMs: r.u32(), phase: r.u16() };
      r.end();
      if (m.maxBytes > MAX_PROBE_READ_BYTES || m.maxMs > MAX_PROBE_READ_MS) {
        throw protocolError(
          `PROBE_READ of ${m.maxBytes} bytes in ${m.maxMs} ms, at most ${MAX_PROBE_READ_BYTES} in ${MAX_PROBE_READ_MS}`,
        );
      }
      return m;
    },
  },
  probeReadResult: {
    encode: (m: ProbeReadResult): Buffer[] => [new BodyWriter().u64(m.bytes).u64(m.micros).u64(m.dataBytes).toBuffer()],
    decode(body: Buffer): ProbeReadResult {
      const r = new BodyReader(body, "PROBE_READ_RESULT");
      const m = { bytes: r.u64(), micros: r.u64(), dataBytes: r.u64() };
      r.end();
      return m;
    },
  },
  error: {
    encode: (m: ErrorMessage): Buffer[] => [
      new BodyWriter()
        .string(m.code, 32)
        .string(m.message.slice(0, MAX_MESSAGE_BYTES / 4), MAX_MESSAGE_BYTES)
        .toBuffer(),
    ],
    decode(body: Buffer): ErrorMessage {
      const r = new BodyReader(body, "ERROR");
      const code = r.string(32);
      const message = r.string(MAX_MESSAGE_BYTES);
      r.end();
      // A code this version does not know (a newer peer's, or made up) must still fail: as a protocol error.
      if (!isErrorCode(code))
        return { code: "E_PROTOCOL", message: `${message} (the peer's error code ${JSON.stringify(code)})` };
      return { code, message };
    },
  },
} as const;

function noFlags(): HelloFlags {
  return { compress: false, full: false, verify: false, dryRun: false };
}
