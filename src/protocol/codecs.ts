/**
 * One codec per message type (layouts in the transcript of messages.ts):
 * `encode` gives the body as buffers to send (payloads are not copied),
 * `decode` checks every field of an untrusted body and throws a protocol
 * error (E_PROTOCOL) for anything out of place.
 */

import { BlockferryError, isErrorCode } from "../errors.js";
import { DIGEST_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from "../native/index.js";
import { quoted } from "../printable.js";
import { blockRunsCodec } from "./block-runs-codec.js";
import { blocksCodec } from "./blocks-codec.js";
import { BodyReader, BodyWriter, protocolError } from "./body.js";
import {
  type Ack,
  type Digests,
  type Done,
  type End,
  type ErrorMessage,
  FINGERPRINT_SIZE,
  type FineNeed,
  type FineOffer,
  type Hello,
  type HelloFlags,
  MAGIC,
  MAX_BLOCKS_PER_MESSAGE,
  MAX_DIR_PATH_BYTES,
  MAX_DIRS,
  MAX_MESSAGE_BYTES,
  MAX_NAME_BYTES,
  MAX_PROBE_READ_BYTES,
  MAX_PROBE_READ_MS,
  MIN_FINE_SIZE,
  PROTOCOL_VERSION,
  type ProbeRead,
  type ProbeReadProgress,
  type ProbeReadResult,
  type ProbeReceived,
  type Start,
  type Welcome,
  type ZeroRun,
} from "./messages.js";

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

/** HELLO's flag bits, used to encode and to decode. */
export const HelloFlag = { compress: 1, full: 2, verify: 4, dryRun: 8, probe: 16, force: 32, tracked: 64 } as const;
const HELLO_FLAGS_KNOWN = Object.values(HelloFlag).reduce((all, bit) => all | bit, 0);
/** WELCOME's flag bits (compare and cached exclude each other). */
export const WelcomeFlag = { blockDevice: 1, compare: 2, cached: 4 } as const;
const WELCOME_FLAGS_KNOWN = 7;

export const codecs = {
  hello: {
    encode(m: Hello): Buffer[] {
      let flags = 0;
      for (const [k, bit] of Object.entries(HelloFlag)) if (m.flags[k as keyof HelloFlags]) flags |= bit;
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
        const none = { cacheGeneration: 0, cacheFingerprint: Buffer.alloc(FINGERPRINT_SIZE), fineSize: 0, dirs: [] };
        return { version, targetName: "", sourceSize: 0, blockSize: 0, flags: noFlags(), sourceId: "", ...none };
      }
      const targetName = r.string(MAX_NAME_BYTES);
      const sourceSize = r.u64();
      const blockSize = r.u32();
      const bits = r.u32();
      const sourceId = r.string(MAX_NAME_BYTES);
      const cacheGeneration = r.u64();
      const cacheFingerprint = Buffer.from(r.bytes(FINGERPRINT_SIZE));
      const fineSize = r.u32();
      const dirCount = r.u8();
      if (dirCount > MAX_DIRS) throw protocolError(`HELLO: ${dirCount} directories, at most ${MAX_DIRS}`);
      const dirs: string[] = [];
      for (let i = 0; i < dirCount; i++) dirs.push(r.string(MAX_DIR_PATH_BYTES));
      r.end();
      for (const dir of dirs) {
        if (!dir.startsWith("/") || dir.includes("\0"))
          throw protocolError(`HELLO: directory ${quoted(dir)} is not an absolute path`);
      }
      if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
        throw protocolError(
          `HELLO: block size ${blockSize} is not a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`,
        );
      }
      if (bits & ~HELLO_FLAGS_KNOWN) throw protocolError(`HELLO: unknown flags ${bits}`);
      if (fineSize !== 0 && (fineSize < MIN_FINE_SIZE || fineSize >= blockSize || (fineSize & (fineSize - 1)) !== 0)) {
        throw protocolError(`HELLO: fine size ${fineSize} is not 0 or a power of two from 4096 to below ${blockSize}`);
      }
      const flags: HelloFlags = {
        compress: (bits & HelloFlag.compress) !== 0,
        full: (bits & HelloFlag.full) !== 0,
        verify: (bits & HelloFlag.verify) !== 0,
        dryRun: (bits & HelloFlag.dryRun) !== 0,
        // Only when set: hellos of a copy stay as they were.
        ...(bits & HelloFlag.probe ? { probe: true } : {}),
        ...(bits & HelloFlag.force ? { force: true } : {}),
        ...(bits & HelloFlag.tracked ? { tracked: true } : {}),
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
        .u8(
          (m.isBlockDevice ? WelcomeFlag.blockDevice : 0) |
            (m.compare ? WelcomeFlag.compare : 0) |
            (m.cached ? WelcomeFlag.cached : 0),
        );
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
      const both = WelcomeFlag.compare | WelcomeFlag.cached;
      if (flags & ~WELCOME_FLAGS_KNOWN || (flags & both) === both)
        throw protocolError(`WELCOME: unknown flags ${flags}`);
      const m: Welcome = {
        version,
        targetSize,
        sectorSize,
        isBlockDevice: (flags & WelcomeFlag.blockDevice) !== 0,
        compare: (flags & WelcomeFlag.compare) !== 0,
        cached: (flags & WelcomeFlag.cached) !== 0,
        seed: r.bigU64(),
        resumeBlock: r.u64(),
        resumeFingerprint: Buffer.from(r.bytes(FINGERPRINT_SIZE)),
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
  blocks: blocksCodec("BLOCKS"),
  /** FINE_BLOCKS: the pieces a FINE_NEED asked for, laid out as BLOCKS lays blocks out (`unit`: the piece size). */
  fineBlocks: blocksCodec("FINE_BLOCKS"),
  zeroRun: runCodec("ZERO_RUN"),
  sameRun: runCodec("SAME_RUN"),
  blockRuns: blockRunsCodec,
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
      const m = { blocksDone: r.u64(), fingerprint: Buffer.from(r.bytes(FINGERPRINT_SIZE)) };
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
        fingerprint: Buffer.from(r.bytes(FINGERPRINT_SIZE)),
        replaced: Buffer.from(r.bytes(FINGERPRINT_SIZE)),
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
        fingerprint: Buffer.from(r.bytes(FINGERPRINT_SIZE)),
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
  /** PROBE_ECHO as a round trip: up to 64 bytes, sent back as they came. */
  probeEcho: {
    encode: (body: Buffer): Buffer[] => [body],
    decode: (body: Buffer): Buffer => Buffer.from(body),
  },
  /** PROBE_ECHO acknowledging PROBEs: the payload bytes received so far. */
  probeReceived: {
    encode: (m: ProbeReceived): Buffer[] => [new BodyWriter().u64(m.bytes).toBuffer()],
    decode(body: Buffer): ProbeReceived {
      const r = new BodyReader(body, "PROBE_ECHO (bytes received)");
      const m = { bytes: r.u64() };
      r.end();
      return m;
    },
  },
  /** PROBE_ECHO during a PROBE_READ: bytes read so far, and bytes of the volume that hold data. */
  probeReadProgress: {
    encode: (m: ProbeReadProgress): Buffer[] => [new BodyWriter().u64(m.bytes).u64(m.dataBytes).toBuffer()],
    decode(body: Buffer): ProbeReadProgress {
      const r = new BodyReader(body, "PROBE_ECHO (read progress)");
      const m = { bytes: r.u64(), dataBytes: r.u64() };
      r.end();
      return m;
    },
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
        return { code: "E_PROTOCOL", message: `${message} (the peer's error code ${quoted(code)})` };
      return { code, message };
    },
  },
} as const;

function noFlags(): HelloFlags {
  return { compress: false, full: false, verify: false, dryRun: false };
}
