/**
 * The whole comparison suite (issue 8), in one process over one emulated
 * gigabit link: full copies of a random image and of a mixed one (zero runs,
 * the rest 2:1 compressible) by `dd | nc`, `dd | lz4 | nc` and blockferry
 * (plaintext, lz4, TLS, ssh); then a night's change of a backup-pool ext4
 * image brought up to date by blockferry (with the target's digests, and with
 * the digest cache) and by `rsync --inplace --no-whole-file`. Caches are
 * dropped before every run and every target is compared with `cmp`.
 * Writes the "suite" section of bench/RESULTS.md and bench/chart.svg.
 *
 * Needs root, iproute2, ethtool, netcat-openbsd, lz4, rsync, OpenSSH's sshd,
 * GNU time, and `npm run build`.
 *   sudo npx tsx bench/suite.ts [--gib 4] [--rounds 1] [--files 20000 per GiB]
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink } from "../test/helpers/netns.js";
import { startSshd } from "../test/helpers/sshd.js";
import { machine } from "./lib/host.js";
import { image } from "./lib/images.js";
import { out } from "./lib/paths.js";
import { type PoolScenario, poolScenario, resetTarget } from "./lib/pool-scenario.js";
import { writeSection } from "./lib/results.js";
import { freshCopy, identical, type Starter, timedRun } from "./lib/run.js";
import { chart, type Outcome, type Result, type Scenario, table } from "./lib/suite-report.js";
import { blockferryTool, ddNcTool, plaintext, rsyncTool, sshTool } from "./lib/tools.js";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "4" },
    rounds: { type: "string", default: "1" },
    /** Pool files in the backup-pool image; 20000 per GiB by default (80000 in 4 GiB, as bench/pool-delta.ts). */
    files: { type: "string" },
  },
});
if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, loop devices, drop_caches)");
const t0 = performance.now();
const minutes = (from: number) => ((performance.now() - from) / 60_000).toFixed(1);
const gib = values.gib;
const bytes = Number(gib) * 2 ** 30;
const rounds = Number(values.rounds);
const files = Number(values.files ?? 20_000 * Number(gib));
const target = join(out, "suite-target.img");
const poolTarget = join(out, "pool-target.img");
const cacheDir = join(out, "suite-digest-cache");

const sources = { random: image(out, "random", bytes), mixed: image(out, "mixed", bytes) };
/** Milliseconds spent making images (once; they stay in bench/out) and changing the pool's: not measuring. */
let preparing = performance.now() - t0;
console.error(`images ready after ${minutes(t0)} min`);

const link = createLink({ rate: "1gbit" });
const sshd = await startSshd(join(out, "sshd"), { ns: link.dst, host: link.dstIp });
const cleanup = () => {
  sshd.stop();
  link.cleanup();
  const scratch = [target, poolTarget, join(out, "ssh-receiver.time")];
  for (const file of [...scratch, `${target}.blockferry-state.json`, `${poolTarget}.blockferry-state.json`])
    rmSync(file, { force: true });
  rmSync(cacheDir, { recursive: true, force: true });
};
process.once("SIGINT", () => {
  cleanup();
  process.exit(130);
});

/** On every blockferry sync: no progress on stderr, and its digest cache in bench/out, not in root's home. */
const common = ["--quiet", "--cache-dir", cacheDir];
const fullCopyTools: Array<[string, (source: string) => Starter]> = [
  ["dd | nc", (s) => ddNcTool(link, s, target)],
  ["dd | lz4 | nc", (s) => ddNcTool(link, s, target, true)],
  ["blockferry", (s) => blockferryTool(link, s, target, { receive: plaintext, sync: [...common, ...plaintext] })],
  [
    "blockferry --compress lz4",
    (s) =>
      blockferryTool(link, s, target, { receive: plaintext, sync: [...common, ...plaintext, "--compress", "lz4"] }),
  ],
  ["blockferry, TLS", (s) => blockferryTool(link, s, target, { sync: common })],
  ["blockferry over ssh", (s) => sshTool(link, sshd, s, target, ["--cache-dir", cacheDir])],
];

const results: Result[] = [];
/** One round of one tool, its outcome kept; a failure is recorded and the suite goes on. */
async function measure(scenario: Scenario, tool: string, once: () => Promise<Outcome>): Promise<void> {
  let result = results.find((r) => r.scenario === scenario && r.tool === tool);
  if (result === undefined) {
    result = { scenario, tool, runs: [] };
    results.push(result);
  }
  try {
    rmSync(cacheDir, { recursive: true, force: true });
    const o = await once();
    result.runs.push(o);
    console.error(`${scenario.name}, ${tool}: ${o.seconds.toFixed(1)} s, identical ${o.identical}`);
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    console.error(`${scenario.name}, ${tool}: FAILED ${result.error}`);
  }
}

/** The pool's delta rows: the target reset to the old image before each. */
function deltaTools(pool: PoolScenario): Array<[string, () => Promise<void>, Starter]> {
  const delta = (source: string, extra: string[]) =>
    blockferryTool(link, source, poolTarget, { receive: plaintext, sync: [...common, ...plaintext, ...extra] });
  const nothing = async () => {};
  // An untimed sync of the old image leaves the digest cache (and the target's state) behind, as last night's would.
  const lastNight = async () => {
    await timedRun(link, "the cached run's preparation", delta(pool.before, []));
  };
  return [
    ["blockferry delta", nothing, delta(pool.after, ["--no-cache"])],
    ["blockferry delta, digest cache", lastNight, delta(pool.after, [])],
    ["rsync --inplace --no-whole-file", nothing, rsyncTool(link, pool.after, poolTarget)],
  ];
}

let pool: PoolScenario | undefined;
try {
  for (const [kind, label] of [
    ["random", "random"],
    ["mixed", "mixed (zero runs + 2:1 compressible)"],
  ] as const) {
    const scenario = { name: `${label}, ${gib} GiB`, baseline: "dd | nc", volume: bytes };
    for (let round = 0; round < rounds; round++)
      for (const [tool, starter] of fullCopyTools)
        await measure(scenario, tool, () => freshCopy(link, tool, sources[kind], target, starter(sources[kind])));
  }
  rmSync(target, { force: true }); // room for the pool's two images

  const t1 = performance.now();
  pool = poolScenario(gib, files);
  preparing += performance.now() - t1;
  const percent = ((100 * pool.changedBlocks * 4096) / pool.bytes).toFixed(2);
  const scenario = {
    name: `backup-pool delta, ${gib} GiB ext4, ${percent}% changed`,
    baseline: "rsync --inplace --no-whole-file",
    volume: pool.bytes,
  };
  for (let round = 0; round < rounds; round++) {
    for (const [tool, prepare, starter] of deltaTools(pool)) {
      const p = pool;
      await measure(scenario, tool, async () => {
        rmSync(`${poolTarget}.blockferry-state.json`, { force: true });
        resetTarget(p, poolTarget);
        await prepare();
        const run = await timedRun(link, tool, starter);
        return { ...run, identical: identical(p.after, poolTarget) };
      });
    }
  }
} finally {
  cleanup();
  if (pool !== undefined) rmSync(pool.after, { force: true });
}

const date = new Date().toISOString().slice(0, 10);
const host = machine();
const total = minutes(t0);
const detail = `${gib} GiB volumes, page cache dropped before every run, median of ${rounds} run(s).`;
writeFileSync(join(import.meta.dirname, "chart.svg"), chart(results, date, host, detail));
const mb = (bytes / 1e6).toFixed(0);
const poolLine =
  pool === undefined
    ? ""
    : `- The delta: a ${gib} GiB ext4 image of ${files} pool files (1 to 49 KiB, half compressible) hardlinked into ` +
      `per-host trees, then ${pool.added} new pool files with their links, ${pool.added / 20} deletions and ` +
      `${pool.added / 20} rewrites through the filesystem: ${pool.changedBlocks} of ${pool.bytes / 4096} 4 KiB ` +
      "blocks changed (bench/lib/pool-image.ts). The target is reset to the old image before each run.";
const section = [
  `\`sudo npx tsx bench/suite.ts --gib ${gib} --rounds ${rounds}\` (after \`npm run build\`; also \`npm run bench:suite\`), ` +
    `${date}, ${host}. The whole run took ${total} min, ${(preparing / 60_000).toFixed(1)} of them preparing images ` +
    "(made once and kept in bench/out; the pool image's change every time).",
  "",
  "![throughput](chart.svg)",
  "",
  `- **MB/s of volume** is the volume's size (${gib} GiB = ${mb} MB) divided by the wall seconds the tool took to bring ` +
    "the target up to date: how fast the whole volume is handled, not the rate on the wire. It passes the link's " +
    "117.6 MB/s of TCP goodput when a tool sends less than the volume (zero blocks skipped, compression, a delta). " +
    "**link MB** is what the veth pair carried each way, from its counters. **time vs baseline**: seconds over those " +
    "of `dd | nc` (full copies) or of rsync (the delta); below 1 is faster.",
  "- The link: a veth pair between two network namespaces, `tc tbf rate 1gbit burst 256kb latency 50ms overhead 24` " +
    "on both ends, TSO/GSO/GRO off. Page cache dropped before every run (cold cache); full copies go to a fresh " +
    "target file; every target is compared with the source by `cmp` afterwards. Seconds run from starting the " +
    "sender (the receiver listening beforehand) until both sides exited.",
  "- `dd | nc` is `dd bs=1M iflag=direct | nc -N` into `nc -l | dd bs=4M conv=fdatasync`; `dd | lz4 | nc` adds " +
    "`lz4 -1` and `lz4 -d` to the pipes. blockferry runs with `--insecure-plaintext --secret-file` (unencrypted, " +
    "as nc and the rsync daemon) except the TLS row (its default mutual TLS) and the ssh row (a real OpenSSH server " +
    "in the receiving namespace, its default cipher). The delta rows use blockferry's defaults (64 KiB blocks, " +
    "changed ones compared again in 4 KiB pieces): with the target's digests (`--no-cache`), and with the digest " +
    "cache an untimed sync of the old image left. rsync talks to an rsync daemon (no ssh) and does not fsync.",
  "- CPU: user + system seconds of each side's process tree (GNU time). The ssh sender's includes the ssh client; " +
    "the ssh receiver is blockferry under sshd, without sshd's own decryption. rsync's receiver is its daemon and " +
    "the children it forked.",
  ...(poolLine === "" ? [] : [poolLine]),
  "",
  ...table(results),
].join("\n");
console.log(section);
writeSection("suite", "The comparison suite: every tool, one run (issue 8)", section);
console.error(`done in ${total} min`);
