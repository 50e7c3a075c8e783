/**
 * The engine's own cost of a nightly delta, both roles in one process (no
 * network, no process start): a 1 GiB image on /dev/shm, synced once, then
 * `--writes` scattered 4 KiB writes, then a second sync by each method:
 * change tracking (the changed 64 KiB chunks given as thin_delta would), the
 * hash delta (--no-cache) and the digest cache. Rows in turn, round after
 * round (a fresh pair each time); medians. What the per-message costs of the
 * engine (native calls, awaits, folds) weigh, apart from disks and links.
 * `--pattern pool`: instead of the scattered writes, the backup-pool image's
 * night through ext4 (bench/lib/pool-scenario.ts, 1 GiB, 20,000 files; root,
 * for its loop device), its changed 64 KiB chunks given as thin_delta would.
 *   npx tsx bench/local-delta.ts [--block-size 65536] [--writes 2600] [--rounds 3] [--pattern scatter|pool]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { syncedPair } from "../test/helpers/cached-pair.js";
import { fulfilled, scatter } from "../test/helpers/engine.js";
import { machine } from "./lib/host.js";
import { type PoolScenario, poolScenario } from "./lib/pool-scenario.js";
import { median } from "./lib/run.js";

const { values } = parseArgs({
  options: {
    "block-size": { type: "string", default: "65536" },
    writes: { type: "string", default: "2600" },
    rounds: { type: "string", default: "3" },
    pattern: { type: "string", default: "scatter" },
  },
});
if (values.pattern !== "scatter" && values.pattern !== "pool") {
  throw new Error(`--pattern: expected scatter or pool, got ${values.pattern}`);
}
const pool = values.pattern === "pool" ? poolScenario("1", 20000) : undefined;
const SIZE = 2 ** 30;
const CHUNK = 65536;
/** The pool night's changed chunks, as thin_delta would list them: those holding a changed 4 KiB block. */
const poolChunks = [...new Set(pool?.changed4k.map((block) => Math.floor((block * 4096) / CHUNK)))];
const DIR = "/dev/shm/blockferry-local-delta";
const blockSize = Number(values["block-size"]);
const fineSize = blockSize > 4096 ? 4096 : 0;
const methods = ["tracked", "hash", "cached"] as const;
const seconds: Record<string, number[]> = { tracked: [], hash: [], cached: [] };
const wire: Record<string, number> = {};

for (let round = 0; round < Number(values.rounds); round++) {
  for (const method of methods) {
    mkdirSync(DIR, { recursive: true });
    try {
      const pair = await syncedPair(DIR, "p", 7, SIZE, blockSize, pool?.before);
      const chunks = pool === undefined ? scattered(pair.source, round) : night(pool, pair.source);
      const runs = chunks.map((begin) => ({ kind: "different" as const, begin, length: 1 }));
      const changes = { delta: { chunkBytes: CHUNK, runs }, baseFingerprint: pair.firstFingerprint, diffSeconds: 0 };
      const started = performance.now();
      const r = await pair.sync(
        method === "tracked" ? { changes, fineSize } : { readCache: method === "cached", fineSize },
      );
      fulfilled(r.target);
      fulfilled(r.source);
      seconds[method]?.push((performance.now() - started) / 1000);
      wire[method] = r.stats.wireBytes;
    } finally {
      rmSync(DIR, { recursive: true, force: true });
    }
  }
}

function scattered(source: string, round: number): number[] {
  return [...scatter(source, Number(values.writes), 11 + round, CHUNK)].sort((a, b) => a - b);
}

/** The pool's night copied over the source; the 64 KiB chunks it changed. */
function night(p: PoolScenario, source: string): number[] {
  execFileSync("cp", ["--sparse=always", p.after, source]);
  return poolChunks;
}

console.log(
  `npx tsx bench/local-delta.ts --pattern ${values.pattern} --block-size ${blockSize} --writes ${values.writes} --rounds ${values.rounds}; ${machine()}`,
);
if (pool !== undefined) {
  console.log(
    `the pool's night: ${pool.changedBlocks} 4 KiB blocks changed, in ${poolChunks.length} of ${pool.bytes / CHUNK} 64 KiB chunks`,
  );
}
console.log("| method | seconds (median) | runs | bytes source→target |\n|---|---:|---|---:|");
for (const m of methods) {
  const runs = seconds[m] ?? [];
  console.log(`| ${m} | ${median(runs).toFixed(2)} | ${runs.map((s) => s.toFixed(2)).join(", ")} | ${wire[m]} |`);
}
