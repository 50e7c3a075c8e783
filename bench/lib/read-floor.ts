/**
 * The disk's floor under a delta on one machine: the seconds to read a
 * volume's data as the source reads it (readBatches: holes skipped, 16 MiB
 * batches, read-ahead, digested), alone and beside a second volume read at
 * the same time, as an uncached delta's target reads its copy.
 */
import { BufferPool } from "../../src/engine/buffer-pool.js";
import { BATCH_BYTES, READ_AHEAD, readBatches } from "../../src/engine/source-batches.js";
import { TransferStats } from "../../src/engine/stats.js";
import { openVolume } from "../../src/native/index.js";
import { dropCaches } from "./netns.js";

async function readAll(path: string): Promise<void> {
  const volume = await openVolume(path, { direct: true });
  try {
    const pool = new BufferPool(READ_AHEAD + 2, () => volume.allocBuffer(BATCH_BYTES));
    const stats = new TransferStats();
    const plan = { volume, fromBlock: 0, blockSize: 65536, seed: 1n, batchBytes: BATCH_BYTES, depth: READ_AHEAD };
    for await (const batch of readBatches({ ...plan, pool, stats, compress: false })) {
      if (batch.kind === "data") batch.release();
    }
  } finally {
    await volume.close();
  }
}

/** Seconds to read `paths` at once, caches dropped first. */
export async function readFloor(...paths: string[]): Promise<number> {
  dropCaches();
  const t0 = performance.now();
  await Promise.all(paths.map(readAll));
  return (performance.now() - t0) / 1000;
}
