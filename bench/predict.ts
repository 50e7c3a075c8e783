/**
 * Does `blockferry bench` predict sync times (issue 8)? Over the emulated
 * gigabit link, for each image: a full copy, then `blockferry bench IMAGE
 * --to tcp://... --change 1% --json` (after the copy, so that the target holds
 * a copy as before any delta; bench learns nothing from the copy: caches are
 * dropped and it uses only its own measurements), then two real 1% deltas:
 * 1% of the 64 KiB blocks rewritten at scattered places (as --change
 * assumes), with data like the image's, synced with the digest cache, then
 * another 1% synced with --no-cache (the target reads its copy). Each sync
 * is measured `--rounds` times (a fresh target for each full copy, another
 * 1% for each delta); medians. Predicted and measured seconds side by side.
 *
 * Needs root, iproute2, ethtool, GNU time, and `npm run build`.
 *   sudo npx tsx bench/predict.ts [--gib 2] [--seconds 30] [--rounds 3]
 * Writes the "prediction" section of bench/RESULTS.md.
 */

import { closeSync, copyFileSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { compressibleBytes, seededBytes, seededInts } from "../test/helpers/random.js";
import { dropCaches, machine } from "./lib/host.js";
import { type ImageKind, image } from "./lib/images.js";
import { bothDone, measured, startReceiver, type Usage } from "./lib/measure.js";
import { cli, out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";
import { median } from "./lib/run.js";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "2" },
    seconds: { type: "string", default: "30" },
    rounds: { type: "string", default: "3" },
  },
});
if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, drop_caches)");
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
const BLOCK = 64 * 1024;
const CHANGE = 0.01;
const source = join(out, "predict-source.img");
const target = join(out, "predict-target.img");
const stateDir = join(out, "predict-state");
const cacheDir = join(out, "predict-cache");

const scenarios: Array<{ name: string; kind: ImageKind; flags: string[] }> = [
  { name: `zero runs + random, ${values.gib} GiB`, kind: "half-zero", flags: [] },
  { name: `zero runs + 2:1 compressible, ${values.gib} GiB, lz4`, kind: "mixed", flags: ["--compress", "lz4"] },
];

/** Runs `args` (a blockferry command) in the source namespace against a fresh `receive`; seconds until both exited. */
async function timed(link: Link, args: string[]): Promise<{ seconds: number; sender: Usage }> {
  dropCaches();
  const { receiver, port } = await startReceiver(link.dst, cli, link.dstIp, target, ["--state-dir", stateDir]);
  const dest = `tcp://${link.dstIp}:${port}/t`;
  const started = performance.now();
  const sender = measured(link.src, [process.execPath, cli, ...args.map((a) => (a === "DEST" ? dest : a))], {
    BLOCKFERRY_CACHE_DIR: cacheDir,
  });
  const [s, r] = await bothDone(sender, receiver);
  const seconds = (performance.now() - started) / 1000;
  if (s.code !== 0 || r.code !== 0) throw new Error(`${args[0]} failed: ${s.stderr} ${r.stderr}`);
  return { seconds, sender: s };
}

/** Rewrites CHANGE of the image's blocks, at scattered places, with data of the image's kind. */
function change(kind: ImageKind, seed: number): number {
  const blocks = bytes / BLOCK;
  const pick = seededInts(seed);
  const chosen = new Set<number>();
  while (chosen.size < Math.round(CHANGE * blocks)) chosen.add(pick(blocks));
  const fd = openSync(source, "r+");
  for (const b of chosen) {
    const data = kind === "half-zero" ? seededBytes(BLOCK, seed + b) : compressibleBytes(BLOCK, seed + b);
    writeSync(fd, data, 0, BLOCK, b * BLOCK);
  }
  closeSync(fd);
  return chosen.size;
}

interface Row {
  scenario: string;
  sync: string;
  predicted: number;
  /** Seconds of each round. */
  measured: number[];
  bottleneck: string;
}

const runs = (xs: number[]) => `${xs.map((x) => x.toFixed(1)).join(", ")} s`;

const link = createLink({ rate: "1gbit" });
const rows: Row[] = [];
const inputs: string[] = [];
try {
  for (const sc of scenarios) {
    const original = image(out, sc.kind, bytes);
    copyFileSync(original, source);
    const full: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const path of [target, cacheDir, stateDir]) rmSync(path, { recursive: true, force: true });
      rmSync(`${target}.blockferry-state.json`, { force: true });
      full.push((await timed(link, ["sync", "--quiet", ...sc.flags, source, "DEST"])).seconds);
    }
    console.error(`${sc.name}: full copy ${runs(full)}`);

    const bench = await timed(link, [
      "bench",
      source,
      "--to",
      "DEST",
      "--change",
      `${CHANGE * 100}%`,
      "--seconds",
      String(values.seconds),
      "--json",
      "--quiet",
      ...sc.flags,
    ]);
    const report = JSON.parse(bench.sender.stdout);
    const p = report.prediction;
    console.error(`${sc.name}: bench ${bench.seconds.toFixed(1)} s`);

    // Each delta finds another 1% changed: first with the digest cache the full copy left, then without.
    const cached: number[] = [];
    const uncached: number[] = [];
    for (let r = 0; r < rounds; r++) {
      change(sc.kind, 100 + 1000 * r);
      cached.push((await timed(link, ["sync", "--quiet", ...sc.flags, source, "DEST"])).seconds);
    }
    for (let r = 0; r < rounds; r++) {
      change(sc.kind, 500 + 1000 * r);
      uncached.push((await timed(link, ["sync", "--quiet", "--no-cache", ...sc.flags, source, "DEST"])).seconds);
    }
    console.error(`${sc.name}: delta with the cache ${runs(cached)}, without ${runs(uncached)}`);
    rows.push(
      {
        scenario: sc.name,
        sync: "full copy",
        predicted: p.fullCopy.seconds,
        measured: full,
        bottleneck: p.fullCopy.bottleneck,
      },
      {
        scenario: sc.name,
        sync: "1% delta (the target reads its copy: --no-cache)",
        predicted: p.delta.seconds,
        measured: uncached,
        bottleneck: p.delta.bottleneck,
      },
      {
        scenario: sc.name,
        sync: "1% delta with the digest cache",
        predicted: p.deltaCached.seconds,
        measured: cached,
        bottleneck: p.deltaCached.bottleneck,
      },
    );
    const m = report.measured;
    const n = m.network;
    const mb = (x: number) => (x / 1e6).toFixed(0);
    inputs.push(
      `- ${sc.name}: bench took ${bench.seconds.toFixed(1)} s; it measured O_DIRECT reads ${mb(m.readDirect.bytesPerSecond)} MB/s ` +
        `(${(m.readDirect.bytes / 2 ** 20).toFixed(0)} MiB sampled), zero blocks ${(m.zero.zeroFractionOfData * 100).toFixed(1)}% of the data, ` +
        `lz4 ${m.lz4.ratio.toFixed(2)}:1 at ${mb(m.lz4.bytesPerSecondPerCore)} MB/s per core, digests ${mb(m.digest.bytesPerSecondPerCore)} MB/s per core; ` +
        `goodput ${mb(n.goodput.bytesPerSecond)} MB/s (TLS), round trip ${(n.rttSeconds * 1000).toFixed(2)} ms, ` +
        `target reads ${mb(n.targetRead.alone.bytesPerSecond)} MB/s alone; in step (as a delta reads) the target ` +
        `${mb(n.targetRead.inStep.target.bytesPerSecond)} MB/s and the source ${mb(n.targetRead.inStep.source.bytesPerSecond)} MB/s, ` +
        `both whole volumes in ${n.targetRead.inStep.wholeSeconds.toFixed(2)} s; startup ${m.startupSeconds.toFixed(2)} s.`,
    );
  }
} finally {
  link.cleanup();
  for (const path of [source, target, cacheDir, stateDir]) rmSync(path, { recursive: true, force: true });
  rmSync(`${target}.blockferry-state.json`, { force: true });
}

const error = (r: Row) => ((100 * (r.predicted - median(r.measured))) / median(r.measured)).toFixed(0);
const lines = [
  `\`npm run build && sudo npx tsx bench/predict.ts --gib ${values.gib} --seconds ${values.seconds} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
  "",
  "Same emulated 1 Gbit link (tc tbf, TLS). For each image: a full copy; `blockferry bench IMAGE --to tcp://... --change 1% --json`",
  `(--seconds ${values.seconds}, run after the copy so that the target holds a copy); then 1% of the 64 KiB blocks rewritten at`,
  "scattered places with data like the image's and synced with the digest cache, and another 1% synced with `--no-cache`.",
  `Each sync measured ${rounds} times (a fresh target for each full copy, another 1% changed for each delta): the median,`,
  'and every run. Caches dropped before every run; times from starting the sender until both sides exited. Both "hosts"',
  "share one disk and two cores here: bench sees the shared disk when it has the target read beside the source.",
  "",
  "| image | sync | predicted s | measured s (median) | error | predicted bottleneck | runs |",
  "|---|---|---:|---:|---:|---|---|",
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.sync} | ${r.predicted.toFixed(1)} | ${median(r.measured).toFixed(1)} | ${error(r)}% | ${r.bottleneck} | ${runs(r.measured)} |`,
  ),
  "",
  ...inputs,
];
const body = lines.join("\n");
console.log(body);
writeSection("prediction", "Predicting sync times: `blockferry bench` (issue 8)", body);
