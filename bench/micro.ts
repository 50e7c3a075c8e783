/**
 * Micro-benchmarks of the native core through the addon, one core:
 *   digest GB/s at 4 KiB / 64 KiB / 1 MiB blocks (256 MiB batches, from memory),
 *   lz4 compression MB/s on random and on 2:1-compressible data.
 * Run: npm run bench:micro   (prints a Markdown table)
 */
import { Bench } from "tinybench";
import { allocAligned, compressBlocks, digestBlocks } from "../src/native/index.js";
import { compressibleBytes, seededBytes } from "../test/helpers/random.js";

const DIGEST_BATCH = 256 << 20;
const LZ4_BATCH = 64 << 20;

const digestData = allocAligned(DIGEST_BATCH);
seededBytes(DIGEST_BATCH, 1).copy(digestData);
const randomData = seededBytes(LZ4_BATCH, 2);
const compressible = compressibleBytes(LZ4_BATCH, 3);

const bench = new Bench({ iterations: 8, warmupIterations: 2 });
const bytesPerTask = new Map<string, number>();
for (const blockSize of [4096, 65536, 1 << 20]) {
  const name = `digest XXH3-128, ${blockSize / 1024} KiB blocks`;
  bytesPerTask.set(name, DIGEST_BATCH);
  bench.add(name, async () => {
    await digestBlocks(digestData, blockSize, 7n);
  });
}
let ratio = new Map<string, number>();
for (const [label, data] of [
  ["random", randomData],
  ["2:1 compressible", compressible],
] as const) {
  const name = `lz4 compress, 64 KiB blocks, ${label}`;
  bytesPerTask.set(name, LZ4_BATCH);
  bench.add(name, async () => {
    const { payload, sizes } = await compressBlocks(data, 65536);
    const raw = sizes.reduce((n, s) => n + (s === 0 ? 65536 : 0), 0);
    ratio = ratio.set(name, data.length / (payload.length + raw));
  });
}

await bench.run();

console.log(`| task | throughput | compression ratio |\n|---|---:|---:|`);
for (const task of bench.tasks) {
  const result = task.result;
  if (result === undefined || !("latency" in result)) throw new Error(`${task.name}: no result`);
  const seconds = (result.latency.p50 ?? Number.NaN) / 1000;
  const bytes = bytesPerTask.get(task.name) ?? 0;
  const rate = bytes / seconds;
  const shown = rate > 2e9 ? `${(rate / 1e9).toFixed(2)} GB/s` : `${(rate / 1e6).toFixed(0)} MB/s`;
  const r = ratio.get(task.name);
  console.log(`| ${task.name} | ${shown} | ${r === undefined ? "" : `${r.toFixed(2)}:1`} |`);
}
