import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BufferPool } from "../../src/engine/buffer-pool.js";
import { readRanges } from "../../src/engine/span-reader.js";
import { TransferStats } from "../../src/engine/stats.js";
import { DIGEST_SIZE, openVolume, type Volume } from "../../src/native/index.js";
import { scratchDir } from "../helpers/files.js";
import { buffersBack } from "../helpers/pool.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const BLOCK = 4096;
const BATCH = 64 * 1024;

/** A volume whose readSpans calls are counted (readRanges uses only `size` and `readSpans`). */
function counted(volume: Volume) {
  const calls: number[] = [];
  const readSpans: Volume["readSpans"] = (buffer, spans, options) => {
    calls.push(spans.length);
    return volume.readSpans(buffer, spans, options);
  };
  return { calls, volume: { size: volume.size, readSpans } as unknown as Volume };
}

async function setup(name: string, depth: number) {
  const data = seededBytes(64 * BLOCK + 1000, testSeed(name)); // a short last block
  data.fill(0, 6 * BLOCK, 7 * BLOCK); // and a zero block, flagged as such
  const path = join(scratch.dir, `${name}.img`);
  writeFileSync(path, data);
  const real = await openVolume(path);
  const { calls, volume } = counted(real);
  const pool = new BufferPool(depth + 1, () => real.allocBuffer(BATCH));
  const plan = { volume, blockSize: BLOCK, seed: 7n, batchBytes: BATCH, depth, pool, stats: new TransferStats() };
  return { data, real, calls, pool, plan: { ...plan, compress: false } };
}

describe("change tracking's scattered reads", () => {
  it("go several ranges to a call, and come out a batch per range with the bytes and digests of a plain read", async () => {
    const { data, real, calls, plan } = await setup("spans", 2);
    // Scattered blocks, a run longer than a batch (cut in two), the short last block.
    const ranges = [
      { first: 1, count: 1 },
      { first: 5, count: 2 },
      { first: 9, count: 1 },
      { first: 12, count: 20 },
      { first: 40, count: 3 },
      { first: 64, count: 1 },
    ];
    const got: Array<{ first: number; count: number }> = [];
    for await (const batch of readRanges(plan, ranges)) {
      const offset = batch.firstBlock * BLOCK;
      expect(batch.buffer.subarray(0, batch.length).equals(data.subarray(offset, offset + batch.length))).toBe(true);
      const plain = real.allocBuffer(batch.length);
      const read = await real.read(plain, offset, batch.length, { blockSize: BLOCK, seed: 7n });
      expect(batch.digests.equals(read.digests as Buffer)).toBe(true);
      expect(batch.zero.equals(read.zero as Buffer)).toBe(true);
      expect(batch.digests.length).toBe(batch.count * DIGEST_SIZE);
      got.push({ first: batch.firstBlock, count: batch.count });
      batch.release();
    }
    await real.close();
    expect(got).toEqual([
      { first: 1, count: 1 },
      { first: 5, count: 2 },
      { first: 9, count: 1 },
      { first: 12, count: 16 },
      { first: 28, count: 4 },
      { first: 40, count: 3 },
      { first: 64, count: 1 },
    ]);
    // 7 pieces in 3 calls of at most a batch (16 blocks): 4 blocks, 16, then 8.
    expect(calls).toEqual([3, 1, 3]);
    expect(plan.stats.readBytes).toBe(27 * BLOCK + 1000);
  });

  it("give every buffer back to the pool when the consumer stops early, mid-call", async () => {
    const depth = 2;
    const { real, pool, plan } = await setup("spans-stop", depth);
    const ranges = Array.from({ length: 32 }, (_, i) => ({ first: 2 * i, count: 1 }));
    for await (const batch of readRanges(plan, ranges)) {
      batch.release();
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(await buffersBack(pool, depth + 1)).toBe(depth + 1);
    await real.close();
  });

  it("are refused past the volume's end or the buffer's, nothing read", async () => {
    const { real } = await setup("spans-refused", 1);
    const buffer = real.allocBuffer(2 * BLOCK);
    const options = { blockSize: BLOCK, seed: 7n };
    await expect(real.readSpans(buffer, [[64 * BLOCK, 2 * BLOCK]], options)).rejects.toMatchObject({
      code: "E_RANGE",
    });
    await expect(
      real.readSpans(
        buffer,
        [
          [0, BLOCK],
          [8 * BLOCK, 2 * BLOCK],
        ],
        options,
      ),
    ).rejects.toMatchObject({ code: "E_INVALID_ARG" });
    await expect(real.readSpans(buffer, [], options)).rejects.toMatchObject({ code: "E_INVALID_ARG" });
    await real.close();
  });
});
