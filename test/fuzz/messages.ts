/**
 * Arbitraries of valid wire messages: every value here is one the decoders
 * must accept and give back unchanged. Mutated, they are the fuzzers' most
 * useful inputs. Payload bytes come from seededBytes (the decoders never look
 * at them, and fast-check is slow at drawing large arrays).
 */
import fc from "fast-check";
import { codecs } from "../../src/protocol/codecs.js";
import {
  type DirBegin,
  type DirDone,
  type DirEnd,
  type DirEntry,
  type DirMeta,
  dirCodecs,
  MAX_DIR_BYTES,
} from "../../src/protocol/dir-messages.js";
import {
  type BlockRuns,
  type Blocks,
  type ErrorMessage,
  type Hello,
  MAX_DIRS,
  MessageType,
  PROTOCOL_VERSION,
  type Welcome,
} from "../../src/protocol/messages.js";
import { seededBytes } from "../helpers/random.js";

/** Records with Object's prototype, so that they compare equal to what the decoders return. */
function record<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  // fast-check types this overload as all keys optional; every key of `model` is drawn.
  return fc.record(model, { noNullPrototype: true }) as unknown as fc.Arbitrary<T>;
}

const safe = fc.maxSafeNat();
const u32 = fc.nat({ max: 0xffffffff });
const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));
const digest = bytes(16, 16);
/** Any code points (bytes up to 4 each), so that 60 of them fit a 255-byte name. */
const name = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }).filter((s) => Buffer.from(s).toString() === s),
);
const powerOfTwo = (min: number, max: number) =>
  fc.integer({ min: Math.log2(min), max: Math.log2(max) }).map((e) => 2 ** e);

export const hello: fc.Arbitrary<Hello> = fc
  .record({
    blockSize: powerOfTwo(4096, 16 * 1024 * 1024),
    fineExponent: fc.option(fc.integer({ min: 12, max: 23 }), { nil: undefined }),
  })
  .chain(({ blockSize, fineExponent }) =>
    record({
      version: fc.constant(PROTOCOL_VERSION),
      targetName: name,
      sourceSize: safe,
      blockSize: fc.constant(blockSize),
      flags: fc.record(
        {
          compress: fc.boolean(),
          full: fc.boolean(),
          verify: fc.boolean(),
          dryRun: fc.boolean(),
          // Decoded only when set: present as true, or absent.
          probe: fc.constant(true),
          force: fc.constant(true),
          tracked: fc.constant(true),
        },
        { requiredKeys: ["compress", "full", "verify", "dryRun"], noNullPrototype: true },
      ),
      sourceId: name,
      cacheGeneration: safe,
      cacheFingerprint: digest,
      fineSize: fc.constant(fineExponent === undefined || 2 ** fineExponent >= blockSize ? 0 : 2 ** fineExponent),
      dirs: fc.array(
        name.map((s) => `/${s.replaceAll("\0", "")}`),
        { maxLength: MAX_DIRS },
      ),
    }),
  );

export const welcome: fc.Arbitrary<Welcome> = fc
  .record({ isBlockDevice: fc.boolean(), mode: fc.constantFrom("copy", "compare", "cached") })
  .chain(({ isBlockDevice, mode }) =>
    record({
      version: fc.constant(PROTOCOL_VERSION),
      targetSize: safe,
      sectorSize: u32,
      isBlockDevice: fc.constant(isBlockDevice),
      compare: fc.constant(mode === "compare"),
      cached: fc.constant(mode === "cached"),
      seed: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      resumeBlock: safe,
      resumeFingerprint: digest,
      checkpointBlocks: fc.integer({ min: 1, max: 0xffffffff }),
      generation: safe,
      cacheRefusal: name,
    }),
  );

/** One block's kind and encoded size, as the BLOCKS decoder accepts them for `blockSize`. */
const blockSlot = (blockSize: number) =>
  fc.oneof(
    fc.constant({ kind: 2, size: 0 }),
    record({
      kind: fc.constantFrom(0, 1),
      size: fc.oneof(fc.integer({ min: 1, max: 256 }), fc.constant(blockSize), fc.integer({ min: 1, max: blockSize })),
    }),
  );

/** A BLOCKS (or FINE_BLOCKS) message the decoder accepts for `blockSize`. */
export const blocks = (blockSize: number): fc.Arbitrary<Blocks> =>
  fc
    .record({ firstBlock: safe, slots: fc.array(blockSlot(blockSize), { minLength: 1, maxLength: 6 }), seed: fc.nat() })
    .map(({ firstBlock, slots, seed }) => ({ firstBlock, ...laidOut(slots, seed) }));

/** Blocks' kinds and sizes, and a payload of random bytes as long as their sizes say. */
function laidOut(slots: Array<{ kind: number; size: number }>, seed: number) {
  return {
    kinds: Uint8Array.from(slots, (s) => s.kind),
    sizes: Uint32Array.from(slots, (s) => s.size),
    payload: [
      seededBytes(
        slots.reduce((n, s) => n + s.size, 0),
        seed,
      ),
    ],
  };
}

/** BLOCK_RUNS: 1 to 4 runs of 1 to 3 blocks, 1 to 1000 blocks apart. */
export const blockRuns = (blockSize: number): fc.Arbitrary<BlockRuns> =>
  fc
    .record({
      first: fc.nat({ max: 2 ** 40 }),
      runs: fc.array(
        fc.record({
          gap: fc.integer({ min: 1, max: 1000 }),
          slots: fc.array(blockSlot(blockSize), { minLength: 1, maxLength: 3 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      seed: fc.nat(),
    })
    .map(({ first, runs, seed }) => {
      let at = first - (runs[0]?.gap ?? 0);
      const placed = runs.map((r) => {
        const run = { first: at + r.gap, count: r.slots.length };
        at = run.first + run.count;
        return run;
      });
      return {
        runs: placed,
        ...laidOut(
          runs.flatMap((r) => r.slots),
          seed,
        ),
      };
    });

/** Block sizes the BLOCKS fuzzing decodes with (large ones make every case slow, and add nothing). */
export const blockSizes = fc.constantFrom(4096, 8192, 65536);

export const run = record({ firstBlock: safe, count: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) });

export const digests = fc
  .record({ firstBlock: safe, count: fc.integer({ min: 1, max: 64 }), allZero: fc.boolean(), seed: fc.nat() })
  .map(({ firstBlock, count, allZero, seed }) => ({
    firstBlock,
    count,
    digests: allZero ? undefined : seededBytes(16 * count, seed),
  }));

export const fineOffer = record({
  firstBlock: safe,
  count: fc.integer({ min: 1, max: 0xffffffff }),
  digests: fc.integer({ min: 1, max: 64 }).map((n) => seededBytes(16 * n, n)),
});
export const fineNeed = record({ firstBlock: safe, count: u32, bitmap: bytes(0, 64) });
export const ack = record({ blocksDone: safe, fingerprint: digest });
export const end = record({ blockCount: safe, fingerprint: digest, replaced: digest });
export const done = record({ fingerprint: digest, verified: fc.boolean(), targetReadBytes: safe, targetWriteMs: safe });
/** Codes this blockferry knows (an unknown one decodes as E_PROTOCOL: see codecs.test.ts). */
const knownCodes = ["E_PROTOCOL", "E_IO", "E_NO_SPACE", "E_AUTH", "E_VERIFY", "E_SNAPSHOT", "E_INTERNAL"] as const;
export const error = record({
  code: fc.constantFrom(...knownCodes),
  message: fc.string({ maxLength: 256 }),
}) as fc.Arbitrary<ErrorMessage>;

export const meta: fc.Arbitrary<DirMeta> = record({
  mode: fc.nat({ max: 0o7777 }),
  uid: fc.nat({ max: 0xfffffffe }),
  gid: fc.nat({ max: 0xfffffffe }),
  mtimeSec: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  mtimeNsec: fc.nat({ max: 999_999_999 }),
});

/** A path component: a few names that collide on purpose, or any bytes but NUL and "/". */
const component = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("a", "b", "x", ".hidden", "é").map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 12 })
      .map((b) => Buffer.from(b.map((c) => (c === 0 || c === 0x2f ? 0x41 : c))))
      .filter((b) => b.toString("latin1") !== "." && b.toString("latin1") !== ".."),
  },
);
export const relativePath = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((parts) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from("/"), p]))));
/** Symlink targets: some pointing out of the tree, on purpose. */
export const linkTarget = fc.oneof(
  fc.constantFrom("../outside", "/", "..", "a", "a/../../outside", "/tmp").map((s) => Buffer.from(s)),
  bytes(1, 32).map((b) => Buffer.from(b.map((c) => c || 1))),
);

export const dirBegin: fc.Arbitrary<DirBegin> = record({ index: fc.nat({ max: MAX_DIRS - 1 }), root: meta });
export const dirEntry: fc.Arbitrary<DirEntry> = fc.oneof(
  record({
    kind: fc.constant("file" as const),
    path: relativePath,
    meta,
    size: fc.oneof(fc.nat({ max: 64 }), fc.nat({ max: MAX_DIR_BYTES })),
    link: fc.constant(Buffer.alloc(0)),
  }),
  record({
    kind: fc.constant("dir" as const),
    path: relativePath,
    meta,
    size: fc.constant(0),
    link: fc.constant(Buffer.alloc(0)),
  }),
  record({ kind: fc.constant("symlink" as const), path: relativePath, meta, size: fc.constant(0), link: linkTarget }),
);
export const dirData = bytes(1, 64);
export const dirEnd: fc.Arbitrary<DirEnd> = record({
  index: fc.nat({ max: MAX_DIRS - 1 }),
  entries: safe,
  bytes: safe,
  digest: bytes(32, 32),
});
export const dirDone: fc.Arbitrary<DirDone> = record({
  index: fc.nat({ max: MAX_DIRS - 1 }),
  entries: safe,
  bytes: safe,
});

const cat = (parts: Buffer[]) => Buffer.concat(parts);

/** A valid frame of any type, as (type, body). */
export const frame: fc.Arbitrary<{ type: number; body: Buffer }> = fc.oneof(
  hello.map((m) => ({ type: MessageType.hello, body: cat(codecs.hello.encode(m)) })),
  welcome.map((m) => ({ type: MessageType.welcome, body: cat(codecs.welcome.encode(m)) })),
  safe.map((fromBlock) => ({ type: MessageType.start, body: cat(codecs.start.encode({ fromBlock })) })),
  blocks(4096).map((m) => ({ type: MessageType.blocks, body: cat(codecs.blocks.encode(m)) })),
  run.map((m) => ({ type: MessageType.zeroRun, body: cat(codecs.zeroRun.encode(m)) })),
  run.map((m) => ({ type: MessageType.sameRun, body: cat(codecs.sameRun.encode(m)) })),
  ack.map((m) => ({ type: MessageType.ack, body: cat(codecs.ack.encode(m)) })),
  end.map((m) => ({ type: MessageType.end, body: cat(codecs.end.encode(m)) })),
  done.map((m) => ({ type: MessageType.done, body: cat(codecs.done.encode(m)) })),
  error.map((m) => ({ type: MessageType.error, body: cat(codecs.error.encode(m)) })),
  fc.constant({ type: MessageType.ping, body: Buffer.alloc(0) }),
  digests.map((m) => ({ type: MessageType.digests, body: cat(codecs.digests.encode(m)) })),
  fineOffer.map((m) => ({ type: MessageType.fineOffer, body: cat(codecs.fineOffer.encode(m)) })),
  fineNeed.map((m) => ({ type: MessageType.fineNeed, body: cat(codecs.fineNeed.encode(m)) })),
  blocks(4096).map((m) => ({ type: MessageType.fineBlocks, body: cat(codecs.blocks.encode(m)) })),
  dirBegin.map((m) => ({ type: MessageType.dirBegin, body: cat(dirCodecs.begin.encode(m)) })),
  dirEntry.map((m) => ({ type: MessageType.dirEntry, body: cat(dirCodecs.entry.encode(m)) })),
  dirData.map((m) => ({ type: MessageType.dirData, body: cat(dirCodecs.data.encode(m)) })),
  dirEnd.map((m) => ({ type: MessageType.dirEnd, body: cat(dirCodecs.end.encode(m)) })),
  dirDone.map((m) => ({ type: MessageType.dirDone, body: cat(dirCodecs.done.encode(m)) })),
);
