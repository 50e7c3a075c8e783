/**
 * The soak loop, run as its own process (node --expose-gc) so that its memory
 * is its own: an initial copy, then ITERATIONS delta syncs of a local image
 * through the whole job layer (digest cache, two levels, state files), with
 * random changes between them. One JSON line per iteration on stdout.
 *
 *   node --expose-gc --import tsx test/faults/soak-run.ts DIR ITERATIONS SEED
 */
import { createHash } from "node:crypto";
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TransferStats } from "../../src/engine/stats.js";
import { runSync } from "../../src/job/sync.js";
import { seededBytes, seededInts } from "../helpers/random.js";

const [dir = "", iterationsText = "10", seedText = "1"] = process.argv.slice(2);
const iterations = Number(iterationsText);
const seed = Number(seedText);
const SIZE = 64 << 20;
const source = join(dir, "soak-source.img");
const target = join(dir, "soak-target.img");
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

function sync(): Promise<unknown> {
  return runSync({
    source,
    destination: { kind: "local", path: target },
    blockSize: 64 * 1024,
    fineSize: 4096,
    compress: seed % 2 === 0,
    full: false,
    verify: false,
    dryRun: false,
    bwlimit: undefined,
    create: true,
    stateDir: dir,
    cacheDir: join(dir, "cache"),
    readCache: true,
    cacheRuns: 4, // every fifth sync has the target read its copy: both paths soak
    security: async () => {
      throw new Error("no network here");
    },
    ssh: { rsh: "ssh", remotePath: "blockferry" },
    stats: new TransferStats(),
    log: () => {},
  });
}

/** Scattered 4 KiB writes, a few longer rewrites, and a zeroed range: what a night does to a pool. */
function change(round: number): number {
  const pick = seededInts(seed * 1000 + round);
  const fd = openSync(source, "r+");
  let bytes = 0;
  try {
    for (let i = 0, n = 50 + pick(400); i < n; i++) {
      const at = pick(SIZE / 4096) * 4096;
      bytes += writeSync(fd, seededBytes(4096, seed + round * 7919 + i), 0, 4096, at);
    }
    for (let i = 0, n = pick(4); i < n; i++) {
      const length = (1 + pick(32)) * 65536;
      bytes += writeSync(
        fd,
        seededBytes(length, seed + round * 31 + i),
        0,
        length,
        pick((SIZE - length) / 4096) * 4096,
      );
    }
    const zeros = Buffer.alloc((1 + pick(16)) * 4096);
    bytes += writeSync(fd, zeros, 0, zeros.length, pick((SIZE - zeros.length) / 4096) * 4096);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

const fd = openSync(source, "w");
writeSync(fd, seededBytes(SIZE / 2, seed), 0, SIZE / 2, 0);
ftruncateSync(fd, SIZE); // the second half a hole: holes soak too
closeSync(fd);
await sync();
for (let round = 1; round <= iterations; round++) {
  const changed = change(round);
  await sync();
  gc();
  const m = process.memoryUsage();
  const identical = sha(source) === sha(target);
  process.stdout.write(
    `${JSON.stringify({ round, changed, identical, heapUsed: m.heapUsed, rss: m.rss, arrayBuffers: m.arrayBuffers })}\n`,
  );
  if (!identical) process.exit(1);
}
