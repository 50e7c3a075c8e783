import { createRequire } from "node:module";
import lz4 from "lz4";
import { describe, expect, it } from "vitest";
import { BlockKind, compressBlocks, decodeBlocks } from "../src/native/index.js";
import { compressibleBytes, seededBytes, seededInts, testSeed } from "./helpers/random.js";

// The lz4 package also ships a pure-JavaScript decoder: a third implementation.
const lz4js = createRequire(import.meta.url)("lz4/lib/binding.js") as {
  uncompress(input: Uint8Array, output: Uint8Array): number;
};

/** Lays out blocks as they travel: compressed bytes, or the block's own bytes when kept raw. */
function wireLayout(data: Buffer, blockSize: number, payload: Buffer, sizes: Uint32Array) {
  const parts: Buffer[] = [];
  const wireSizes = new Uint32Array(sizes.length);
  const kinds = new Uint8Array(sizes.length);
  let pos = 0;
  sizes.forEach((size, i) => {
    const block = data.subarray(i * blockSize, (i + 1) * blockSize);
    if (size === 0) {
      parts.push(block);
      wireSizes[i] = block.length;
      kinds[i] = BlockKind.raw;
    } else {
      parts.push(payload.subarray(pos, pos + size));
      wireSizes[i] = size;
      kinds[i] = BlockKind.lz4;
      pos += size;
    }
  });
  expect(pos).toBe(payload.length);
  return { wire: Buffer.concat(parts), wireSizes, kinds };
}

describe("lz4 batches", () => {
  const blockSize = 65536;

  it("round-trips compressible, random and short blocks", async () => {
    const seed = testSeed("lz4 round trip");
    const data = compressibleBytes(4 * blockSize + 777, seed);
    seededBytes(blockSize, seed + 1).copy(data, blockSize); // block 1 is random
    data.fill(7, 4 * blockSize); // the short last block: certain to compress
    const { payload, sizes } = await compressBlocks(data, blockSize);
    expect(sizes.length).toBe(5);
    expect(sizes[1]).toBe(0); // random: kept raw
    for (const i of [0, 2, 3, 4]) expect(sizes[i]).toBeGreaterThan(0);
    expect(sizes[0]).toBeLessThan(blockSize * 0.6); // about 2:1
    const { wire, wireSizes, kinds } = wireLayout(data, blockSize, payload, sizes);
    const out = Buffer.alloc(data.length);
    await decodeBlocks(wire, wireSizes, kinds, out, blockSize);
    expect(out.equals(data)).toBe(true);
  });

  it("produces blocks the independent lz4 package decodes", async () => {
    const seed = testSeed("lz4 interop");
    const data = compressibleBytes(8 * blockSize, seed);
    const { payload, sizes } = await compressBlocks(data, blockSize);
    let pos = 0;
    for (const [i, size] of sizes.entries()) {
      expect(size).toBeGreaterThan(0);
      const frame = payload.subarray(pos, pos + size);
      const expected = data.subarray(i * blockSize, (i + 1) * blockSize);
      const viaPackage = Buffer.alloc(blockSize);
      expect(lz4.decodeBlock(frame, viaPackage)).toBe(blockSize);
      expect(viaPackage.equals(expected)).toBe(true);
      const viaJs = Buffer.alloc(blockSize);
      expect(lz4js.uncompress(frame, viaJs)).toBe(blockSize);
      expect(viaJs.equals(expected)).toBe(true);
      pos += size;
    }
  });

  it("decodes blocks the independent lz4 package encoded", async () => {
    const data = compressibleBytes(blockSize, 3);
    const frame = Buffer.alloc(lz4.encodeBound(blockSize));
    const size = lz4.encodeBlock(data, frame);
    const out = Buffer.alloc(blockSize);
    await decodeBlocks(frame.subarray(0, size), Uint32Array.of(size), Uint8Array.of(BlockKind.lz4), out, blockSize);
    expect(out.equals(data)).toBe(true);
  });

  it("fills zero blocks and checks every size against both buffers", async () => {
    const out = Buffer.alloc(2 * 4096, 0xff);
    const raw = seededBytes(4096, 4);
    await decodeBlocks(raw, Uint32Array.of(0, 4096), Uint8Array.of(BlockKind.zero, BlockKind.raw), out, 4096);
    expect(out.subarray(0, 4096).every((b) => b === 0)).toBe(true);
    expect(out.subarray(4096).equals(raw)).toBe(true);
    const bad: Array<[Uint32Array, Uint8Array]> = [
      [Uint32Array.of(4096, 4096), Uint8Array.of(BlockKind.raw, BlockKind.raw)], // past the input
      [Uint32Array.of(100, 0), Uint8Array.of(BlockKind.raw, BlockKind.zero)], // raw of the wrong length
      [Uint32Array.of(1, 0), Uint8Array.of(BlockKind.zero, BlockKind.zero)], // zero block with bytes
      [Uint32Array.of(0, 0), Uint8Array.of(7, BlockKind.zero)], // unknown kind
    ];
    for (const [sizes, kinds] of bad) {
      await expect(decodeBlocks(raw, sizes, kinds, out, 4096)).rejects.toMatchObject({ code: "E_CORRUPT" });
    }
  });

  it("rejects malformed lz4 input with E_CORRUPT, never more than a block", async () => {
    const seed = testSeed("lz4 garbage");
    const next = seededInts(seed);
    const data = compressibleBytes(2 * 4096, seed);
    const { payload, sizes } = await compressBlocks(data, 2 * 4096); // one block decoding to 8 KiB
    // Decode into the middle of a larger buffer: the guard bytes around it must survive.
    const guarded = Buffer.alloc(3 * 4096, 0xee);
    const out = guarded.subarray(4096, 2 * 4096);
    await expect(
      decodeBlocks(payload, Uint32Array.of(sizes[0] ?? 0), Uint8Array.of(BlockKind.lz4), out, 4096),
    ).rejects.toMatchObject({ code: "E_CORRUPT" });
    let rejected = 0;
    for (let t = 0; t < 500; t++) {
      const junk = seededBytes(1 + next(400), seed + t);
      try {
        await decodeBlocks(junk, Uint32Array.of(junk.length), Uint8Array.of(BlockKind.lz4), out, 4096);
      } catch (e) {
        expect(e).toMatchObject({ code: "E_CORRUPT" });
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(400);
    expect(guarded.subarray(0, 4096).every((b) => b === 0xee)).toBe(true);
    expect(guarded.subarray(2 * 4096).every((b) => b === 0xee)).toBe(true);
  });

  it("refuses a destination that overlaps the source", async () => {
    const shared = Buffer.alloc(8192);
    await expect(
      decodeBlocks(
        shared.subarray(0, 4096),
        Uint32Array.of(4096),
        Uint8Array.of(BlockKind.raw),
        shared.subarray(2048, 6144),
        4096,
      ),
    ).rejects.toMatchObject({ code: "E_INVALID_ARG" });
  });
});
