import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Fingerprint, foldBatch } from "../src/engine/fingerprint.js";
import { DIGEST_SIZE, decodeUnits, digestBlocks, openVolume } from "../src/native/index.js";
import { scratchDir } from "./helpers/files.js";
import { seededBytes, testSeed } from "./helpers/random.js";

const PRIME32 = 2654435761n;
const PRIME64 = 11400714785074694797n;

/** The pseudo-random buffer of xxHash's own sanity test. */
function sanityBuffer(length: number): Buffer {
  const out = Buffer.alloc(length);
  let gen = PRIME32;
  for (let i = 0; i < length; i++) {
    out[i] = Number(gen >> 56n);
    gen = (gen * PRIME64) & 0xffff_ffff_ffff_ffffn;
  }
  return out;
}

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("XXH3-128 digests", () => {
  // From xxHash's sanity test (XXH3_128bits_withSeed), as { high64, low64 }.
  const vectors: Array<[number, bigint, string]> = [
    [1, 0n, "a6cd5e9392000f6ac44bdff4074eecdb"],
    [6, PRIME32, "5a865b5389abd2b1269d8f70be98856e"],
    [12, 0n, "6e3efd8fc7802b18061a192713f69ad9"],
    [81, PRIME32, "2724ec7adc750fb6703fbb3d7a5f755c"],
    [403, PRIME64, "bed311971e0be8f26259f6ecfd6443fd"],
    [2048, 0n, "f736557fd47073a5dd59e2c3a5f038e0"],
    [2240, PRIME32, "50a1fe17b338995fed385111126fba6f"],
    [2367, 0n, "e89c0f6ff369b427cb37aeb9e5d361ed"],
  ];
  const data = sanityBuffer(2367);
  it.each(vectors)("len %i seed %i matches the upstream vector", async (len, seed, hex) => {
    const { digests } = await digestBlocks(data.subarray(0, len), len, seed);
    expect(digests.toString("hex")).toBe(hex);
  });

  it("gives the same digests whatever the batch size", async () => {
    const seed = testSeed("batching");
    const blockSize = 4096;
    const data = seededBytes(blockSize * 256 + 1000, seed);
    data.fill(0, blockSize * 10, blockSize * 12);
    const whole = await digestBlocks(data, blockSize, 99n);
    expect(whole.digests.length).toBe(257 * DIGEST_SIZE);
    for (const batchBlocks of [1, 7, 64]) {
      const parts: Buffer[] = [];
      for (let off = 0; off < data.length; off += batchBlocks * blockSize) {
        parts.push((await digestBlocks(data.subarray(off, off + batchBlocks * blockSize), blockSize, 99n)).digests);
      }
      expect(Buffer.concat(parts).equals(whole.digests)).toBe(true);
    }
    expect([...whole.zero.subarray(9, 13)]).toEqual([0, 1, 1, 0]);
  });

  it("changes with the seed", async () => {
    const data = seededBytes(8192, 5);
    const a = await digestBlocks(data, 4096, 1n);
    const b = await digestBlocks(data, 4096, 2n);
    expect(a.digests.equals(b.digests)).toBe(false);
  });

  it("gives the same digests when read from a volume as from memory", async () => {
    const seed = testSeed("read digests");
    const data = seededBytes(3 * 65536 + 512, seed);
    data.fill(0, 65536, 131072);
    const path = join(scratch.dir, "digest.img");
    const fd = openSync(path, "w");
    writeSync(fd, data);
    closeSync(fd);
    const volume = await openVolume(path);
    const buffer = volume.allocBuffer(data.length);
    const read = await volume.read(buffer, 0, data.length, { blockSize: 65536, seed: 7n });
    await volume.close();
    const memory = await digestBlocks(data, 65536, 7n);
    expect(read.digests?.equals(memory.digests)).toBe(true);
    expect([...(read.zero ?? [])]).toEqual([0, 1, 0, 0]);
  });
});

describe("decodeUnits folds the runs of a BLOCK_RUNS by their own block numbers", () => {
  const blockSize = 4096;
  const runs = [
    { first: 5, count: 2 },
    { first: 40, count: 1 },
    { first: 1000, count: 3 },
  ];

  it("sums each run's blocks as if folded apart", async () => {
    const seed = BigInt(testSeed("fold runs"));
    const data = seededBytes(6 * blockSize, Number(seed));
    const dst = Buffer.alloc(data.length);
    const kinds = new Uint8Array(6); // raw
    const sizes = new Uint32Array(6).fill(blockSize);
    const fold = { blockSize, seed, firstBlock: 5, runs };
    const { sum } = await decodeUnits([data], sizes, kinds, dst, blockSize, { fold });
    expect(dst.equals(data)).toBe(true);
    const { digests } = await digestBlocks(data, blockSize, seed);
    const apart = new Fingerprint();
    let at = 0;
    for (const r of runs) {
      apart.add(await foldBatch(digests.subarray(at * DIGEST_SIZE), r.count, r.first, seed));
      at += r.count;
    }
    expect(sum.equals(apart.toBuffer())).toBe(true);
    // Not the sum of blocks 5 to 10: the numbers matter.
    expect(sum.equals(await foldBatch(digests, 6, 5, seed))).toBe(false);
  });

  it("refuses runs whose counts do not add up to the blocks, or out of order", async () => {
    const dst = Buffer.alloc(6 * blockSize);
    const call = (r: Array<{ first: number; count: number }>) =>
      decodeUnits([Buffer.alloc(0)], new Uint32Array(6), new Uint8Array(6).fill(2), dst, blockSize, {
        fold: { blockSize, seed: 1n, firstBlock: 0, runs: r },
      });
    for (const bad of [runs.slice(0, 2), [...runs, { first: 2000, count: 1 }], [runs[2], runs[0], runs[1]], []]) {
      await expect(call(bad as Array<{ first: number; count: number }>)).rejects.toMatchObject({
        code: "E_INVALID_ARG",
      });
    }
  });
});
