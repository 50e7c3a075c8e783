/**
 * The disk's floor under a delta on one machine: the seconds to read a
 * volume's data through the engine's own reader (sampleRead, sequential:
 * readBatches with holes skipped, read-ahead, digests), alone and beside a
 * second volume read at the same time, as an uncached delta's target reads its copy.
 */
import { sampleRead } from "../../src/engine/sample-read.js";
import { openVolume } from "../../src/native/index.js";
import { dropCaches } from "./host.js";

async function readAll(path: string): Promise<void> {
  const volume = await openVolume(path, { direct: true });
  try {
    const all = { end: volume.size, maxBytes: Number.POSITIVE_INFINITY, deadline: Number.POSITIVE_INFINITY };
    await sampleRead({ volume, blockSize: 65536, order: "sequential", ...all });
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
