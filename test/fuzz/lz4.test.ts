/**
 * The native block decoder (lz4 and raw blocks from the peer) under fuzzing:
 * blocks compressed by our own compressor, then mutated and cut into chunks,
 * go through the BLOCKS decoder and decodeUnits exactly as the target takes
 * them (decoded, digested and folded in one call); and
 * decodeBlocks alone gets arbitrary sizes, kinds and bytes. Each block must
 * decode to exactly its length or be refused with E_CORRUPT, and nothing may
 * be written outside the destination: guard bytes on both sides must survive.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { foldBatch } from "../../src/engine/fingerprint.js";
import { decodeBlocks, decodeUnits, digestBlocks } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";
import { compressibleBytes, seededBytes } from "../helpers/random.js";
import { encodeBlocks } from "./blocks.js";
import { budget, check, expectRefusal, printSummary, runs } from "./fuzz.js";
import { mutate, mutations } from "./mutate.js";

afterAll(printSummary);

const GUARD = Buffer.alloc(65536, 0xa5);

/** `body` cut at the given places (taken modulo its length): the chunks a socket might deliver it in. */
function chunked(body: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const c of [...at, body.length]) {
    parts.push(body.subarray(from, c));
    from = c;
  }
  return parts;
}

/** A destination of `length` bytes with `margin` (at most 64 KiB) guard bytes on each side. */
function guarded(length: number, margin: number) {
  const whole = Buffer.alloc(margin + length + margin, GUARD[0]);
  const dst = whole.subarray(margin, margin + length);
  dst.fill(0);
  const guard = GUARD.subarray(0, margin);
  const intact = () => whole.subarray(0, margin).equals(guard) && whole.subarray(margin + length).equals(guard);
  return { dst, intact };
}

/** Volume bytes of a chosen compressibility: incompressible, half, mostly runs, or zero with a few bytes set. */
const volumeData = fc
  .record({
    blockSize: fc.constantFrom(4096, 65536),
    blocks: fc.integer({ min: 1, max: 4 }),
    /** Bytes missing from the last block (a volume need not end on a block boundary). */
    short: fc.nat(),
    literal: fc.constantFrom(0, 8, 26, 48, 64),
    zeroBlocks: fc.boolean(),
    seed: fc.nat(),
  })
  .map(({ blockSize, blocks, short, literal, zeroBlocks, seed }) => {
    const length = blocks * blockSize - (short % blockSize);
    const data = literal === 64 ? seededBytes(length, seed) : compressibleBytes(length, seed, literal);
    if (zeroBlocks) data.fill(0, 0, Math.min(length, blockSize)); // the first block all zero
    return { blockSize, data };
  });

describe("the native block decoder under fuzzing", () => {
  it(
    "decodes our own lz4 blocks back, and refuses mutated ones with E_CORRUPT, writing only its destination",
    async () => {
      let decodedMutants = 0;
      const property = fc.asyncProperty(
        volumeData,
        fc.option(mutations(4), { nil: undefined, freq: 4 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        async ({ blockSize, data }, list, payloadOnly, cuts) => {
          const body = await encodeBlocks(data, blockSize);
          const count = Math.ceil(data.length / blockSize);
          // Mutations of the payload only mostly pass the BLOCKS decoder and reach lz4.
          const header = 12 + 5 * count;
          const input =
            list === undefined
              ? body
              : payloadOnly
                ? Buffer.concat([body.subarray(0, header), mutate(body.subarray(header), list)])
                : mutate(body, list);
          let m: ReturnType<typeof codecs.blocks.decode>;
          try {
            // As the frame reader hands a large one over: the body in the chunks it arrived in.
            m = codecs.blocks.decode(chunked(input, cuts), blockSize);
          } catch (e) {
            expectRefusal(e, ["E_PROTOCOL"]);
            expect(list).toBeDefined();
            return;
          }
          // The target refuses blocks past the end (checkRange) before it decodes, and sizes its destination so.
          if (m.firstBlock !== 0 || m.kinds.length > count) return;
          const length = Math.min(m.kinds.length * blockSize, data.length);
          const { dst, intact } = guarded(length, blockSize);
          try {
            const seed = 7n;
            const fold = { blockSize, seed, firstBlock: 0 };
            const { sum } = await decodeUnits(m.payload, m.sizes, m.kinds, dst, blockSize, { fold });
            if (list === undefined) {
              expect(dst.equals(data)).toBe(true);
              const { digests } = await digestBlocks(data, blockSize, seed);
              expect(sum.equals(await foldBatch(digests, count, 0, seed))).toBe(true);
            } else decodedMutants++;
          } catch (e) {
            expectRefusal(e, ["E_CORRUPT"]);
            expect(list).toBeDefined();
          }
          expect(intact()).toBe(true);
        },
      );
      await check("lz4 blocks via BLOCKS", property, runs(10_000));
      // Some mutants decode (lz4 has no checksum; the fingerprint catches those): proof the mutations reached lz4.
      expect(decodedMutants).toBeGreaterThan(0);
    },
    budget(15_000),
  );

  it(
    "takes arbitrary sizes, kinds and bytes without a crash or a write outside the destination",
    async () => {
      const size = fc.oneof(
        fc.nat({ max: 5000 }),
        fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff, 4095, 4096, 4097),
        fc.nat({ max: 0xffffffff }),
      );
      const property = fc.asyncProperty(
        fc.record({
          blockSize: fc.constantFrom(4096, 8192),
          length: fc.integer({ min: 1, max: 3 * 8192 }),
          src: fc.oneof(
            fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
            fc.nat().map((seed) => compressibleBytes(12_000, seed, 8)),
          ),
          slots: fc.array(fc.record({ kind: fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 255 })), size }), {
            minLength: 6,
            maxLength: 6,
          }),
        }),
        async ({ blockSize, length, src, slots }) => {
          const blocks = Math.ceil(length / blockSize);
          const kinds = Uint8Array.from(slots.slice(0, blocks), (s) => s.kind);
          const sizes = Uint32Array.from(slots.slice(0, blocks), (s) => s.size);
          const { dst, intact } = guarded(length, blockSize);
          try {
            await decodeBlocks(src, sizes, kinds, dst, blockSize);
          } catch (e) {
            expectRefusal(e, ["E_CORRUPT"]);
          }
          expect(intact()).toBe(true);
        },
      );
      await check("decodeBlocks arbitrary input", property, runs(10_000));
    },
    budget(10_000),
  );
});
