import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BufferPool } from "../../src/engine/buffer-pool.js";
import { TransferStats } from "../../src/engine/stats.js";
import { readBatches } from "../../src/engine/volume-reader.js";
import { openVolume, type Volume } from "../../src/native/index.js";
import { scratchDir } from "../helpers/files.js";
import { buffersBack } from "../helpers/pool.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

/** The volume, with its reads counted: how many were started, and how many are still running. */
function counted(volume: Volume) {
  const count = { started: 0, running: 0 };
  const read: Volume["read"] = async (...args) => {
    count.started++;
    count.running++;
    try {
      return await volume.read(...args);
    } finally {
      count.running--;
    }
  };
  // readBatches uses only these three (Volume's private fields rule out a prototype copy).
  const wrapped = { size: volume.size, dataExtents: volume.dataExtents.bind(volume), read };
  return { count, volume: wrapped as unknown as Volume };
}

describe("readBatches", () => {
  const batchBytes = 64 * 1024;
  const batches = 12;

  async function setup(name: string, depth: number) {
    const seed = testSeed(name);
    const path = join(scratch.dir, `${name}.img`);
    const data = seededBytes(batches * batchBytes, seed);
    writeFileSync(path, data);
    const real = await openVolume(path);
    const { count, volume } = counted(real);
    const pool = new BufferPool(depth + 1, () => real.allocBuffer(batchBytes));
    const plan = {
      volume,
      fromBlock: 0,
      blockSize: 4096,
      seed: 7n,
      batchBytes,
      depth,
      pool,
      stats: new TransferStats(),
    };
    return { data, real, count, pool, batches: readBatches({ ...plan, compress: false }) };
  }

  it("keeps `depth` reads going while the consumer holds a batch, and yields every byte in order", async () => {
    const depth = 2;
    const { data, real, count, batches: reader } = await setup("read-ahead", depth);
    const seen: Buffer[] = [];
    let index = 0;
    for await (const batch of reader) {
      if (batch.kind !== "data") throw new Error("no holes in this file");
      // Ahead of the consumer: every batch up to `depth` past this one was asked for.
      expect(count.started).toBe(Math.min(batches, index + 1 + depth));
      seen.push(Buffer.from(batch.buffer.subarray(0, batch.length)));
      batch.release();
      index++;
    }
    await real.close();
    expect(index).toBe(batches);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
  });

  it("gives the buffers of reads still in flight back to the pool when the consumer stops early", async () => {
    const depth = 2;
    const { real, count, pool, batches: reader } = await setup("stop-early", depth);
    for await (const batch of reader) {
      if (batch.kind === "data") batch.release();
      break;
    }
    while (count.running > 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
    // All depth + 1 buffers can be taken again without waiting.
    expect(await buffersBack(pool, depth + 1)).toBe(depth + 1);
    await real.close();
  });

  it("reads across holes shorter than a batch (zeros, no batch cut) and skips longer ones unread", async () => {
    const seed = testSeed("holes");
    const mib = 1024 * 1024;
    const batchBytes = 4 * mib;
    const path = join(scratch.dir, "holes.img");
    // Data at [0, 1), [1.5, 2.5) and [40, 41) MiB of 64: a 0.5 MiB hole, a 37.5 MiB one, then 23 MiB to the end.
    const fd = openSync(path, "w");
    ftruncateSync(fd, 64 * mib);
    const pieces: Array<[number, number]> = [
      [0, mib],
      [1.5 * mib, mib],
      [40 * mib, mib],
    ];
    for (const [at, length] of pieces) writeSync(fd, seededBytes(length, seed + at), 0, length, at);
    closeSync(fd);
    const volume = await openVolume(path);
    const pool = new BufferPool(4, () => volume.allocBuffer(batchBytes));
    const stats = new TransferStats();
    const plan = {
      volume,
      fromBlock: 0,
      blockSize: 65536,
      seed: 3n,
      batchBytes,
      depth: 2,
      pool,
      stats,
      compress: false,
    };
    const seen: string[] = [];
    const image = readFileSync(path);
    for await (const batch of readBatches(plan)) {
      const [from, to] = [batch.firstBlock * 65536, (batch.firstBlock + batch.count) * 65536];
      seen.push(`${batch.kind} ${from / mib}-${to / mib}`);
      if (batch.kind === "data") {
        expect(batch.buffer.subarray(0, batch.length).equals(image.subarray(from, to))).toBe(true);
        batch.release();
      }
    }
    await volume.close();
    // The short hole is inside the first data batch; the long ones (and the tail) are hole runs.
    expect(seen).toEqual(["data 0-2.5", "hole 2.5-40", "data 40-41", "hole 41-64"]);
    expect(stats.readBytes).toBe(2.5 * mib + mib);
  });
});
