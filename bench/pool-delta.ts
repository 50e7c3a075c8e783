/**
 * Delta sync on a backup-pool-like ext4 image (issue 4): the image is made,
 * copied, changed through the filesystem as a night of backups would (about
 * 1% of its files), then brought up to date over the emulated gigabit link by
 * blockferry at several block sizes (with the target's digests, and with the
 * source's digest cache) and by `rsync --inplace --no-whole-file`, in one run.
 * Before each run the target is reset to the old image (for the cached run,
 * by an unmeasured sync of the old image, which leaves the cache behind) and
 * the page cache is dropped; after it, the target is compared with `cmp`.
 * The target's image is on its own storage (--target-dir, tmpfs by default), as on a second machine.
 *   npm run build && sudo npx tsx bench/pool-delta.ts [--gib 4] [--files 80000] [--target-dir /dev/shm]
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { machine } from "./lib/host.js";
import { out } from "./lib/paths.js";
import { poolScenario, resetTarget } from "./lib/pool-scenario.js";
import { readFloor } from "./lib/read-floor.js";
import { writeSection } from "./lib/results.js";
import { type LinkFloor, measureLinkFloor, rowFloor } from "./lib/row-floor.js";
import { identical, median as medianOf, middle, type Starter, timedRun } from "./lib/run.js";
import { blockferryTool, plaintext, rsyncTool } from "./lib/tools.js";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "4" },
    files: { type: "string", default: "80000" },
    rounds: { type: "string", default: "1" },
    /** Only the rows whose name contains one of these (comma-separated); the full copy always runs. */
    only: { type: "string", default: "" },
    /** blockferry with --insecure-plaintext (as the rsync daemon here), instead of its default TLS. */
    plaintext: { type: "boolean", default: false },
    /** Where the target's image lives: its own storage (tmpfs by default), as on a second machine. */
    "target-dir": { type: "string", default: "/dev/shm" },
  },
});
const files = Number(values.files);
const pool = poolScenario(values.gib, files);
const { bytes, added, before, after, changedBlocks } = pool;
const target = join(values["target-dir"], "blockferry-pool-target.img");
const cacheDir = join(out, "digest-cache");

interface Row {
  tool: string;
  seconds: number;
  tx: number;
  rx: number;
  identical: boolean;
  note: string;
  /** Each side's CPU seconds (user + system) and peak RSS in MiB. */
  cpu: [number, number];
  rss: [number, number];
}

const rounds = Number(values.rounds);

const only = values.only === "" ? [] : values.only.split(",");
type Plan = Parameters<typeof runOnce>;

/** A row's runs: the run of median time (its bytes too), with every time in its note. */
function median(all: Row[]): Row {
  const mid = middle(all, (r) => r.seconds) as Row;
  const times = all.map((r) => r.seconds.toFixed(1)).join(", ");
  return {
    ...mid,
    identical: all.every((r) => r.identical),
    note: rounds > 1 ? `${mid.note} (runs: ${times} s)` : mid.note,
  };
}

/**
 * Runs every row once per round, round after round: this disk's rate wanders
 * by a quarter over minutes, and rows measured side by side see the same
 * spells, where rows run back to back would not.
 */
async function runAll(plans: Plan[]): Promise<Row[]> {
  const runs: Row[][] = plans.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, plan] of plans.entries()) runs[i]?.push(await runOnce(...plan));
  }
  return runs.map(median);
}

async function runOnce(
  link: Link,
  tool: string,
  reset: boolean,
  start: Starter,
  note: (stdout: string) => string,
  prepare?: () => Promise<void>,
): Promise<Row> {
  rmSync(`${target}.blockferry-state.json`, { force: true });
  rmSync(cacheDir, { recursive: true, force: true });
  if (reset) resetTarget(pool, target);
  else rmSync(target, { force: true });
  await prepare?.();
  const run = await timedRun(link, tool, start);
  const row = {
    tool,
    seconds: run.seconds,
    tx: run.tx,
    rx: run.rx,
    identical: identical(after, target),
    note: note(run.sender.stdout),
    cpu: [run.sender.cpuSeconds, run.receiver.cpuSeconds] as [number, number],
    rss: [run.sender.maxRssMiB, run.receiver.maxRssMiB] as [number, number],
  };
  console.error(`${tool}: ${row.seconds.toFixed(1)} s, ${(row.tx / 1e6).toFixed(1)} MB, identical ${row.identical}`);
  return row;
}

const blockferry = (link: Link, extra: string[], source = after): Starter => {
  const transport = values.plaintext ? plaintext : [];
  const sync = ["--json", "--quiet", "--cache-dir", cacheDir, ...transport, ...extra];
  return blockferryTool(link, source, target, { receive: transport, sync });
};
/** The target as the old image, synced by blockferry: its state and the source's digest cache now describe it. */
const syncOld = (link: Link) => async () => {
  await timedRun(link, "preparing the cached run", blockferry(link, [], before));
};
const bfNote = (stdout: string) => {
  const s = JSON.parse(stdout);
  const bound = 1.1 * s.blocks.changed * s.blockSize + s.bytes.digests;
  return (
    `${s.mode}: ${s.blocks.changed} of ${s.blocks.compared} blocks sent, ` +
    (s.digestsFrom === "cache" ? "digests from the cache" : `digests ${(s.bytes.digests / 1e6).toFixed(1)} MB`) +
    `, target read ${(s.bytes.targetRead / 1e6).toFixed(1)} MB; bound 1.1 × changed + digests = ${(bound / 1e6).toFixed(1)} MB`
  );
};

const link = createLink({ rate: "1gbit" });
const plans: Plan[] = [];
const plan = (...p: Plan) => {
  const tool = p[1];
  if (only.length === 0 || tool.includes("full copy") || only.some((o) => tool.includes(o))) plans.push(p);
};
let rows: Row[] = [];
let linkFloor: LinkFloor = { startSeconds: Number.NaN, goodput: Number.NaN };
try {
  plan(link, "blockferry full copy (64K)", false, blockferry(link, []), bfNote);
  for (const bs of ["4K", "16K", "64K", "256K", "1M"]) {
    const args = ["--no-cache", "--block-size", bs, "--fine-block-size", "0"];
    plan(link, `blockferry delta, ${bs} blocks`, true, blockferry(link, args), bfNote);
  }
  for (const bs of ["64K", "1M"]) {
    const args = ["--no-cache", "--block-size", bs];
    const label = `blockferry delta, ${bs} blocks, two-level (4K pieces)${bs === "64K" ? ": the default" : ""}`;
    plan(link, label, true, blockferry(link, args), bfNote);
  }
  plan(link, "blockferry delta with digest cache, 64K", true, blockferry(link, []), bfNote, syncOld(link));
  const whole = ["--fine-block-size", "0"];
  const wholeLabel = "blockferry delta with digest cache, 64K, whole blocks (--fine-block-size 0)";
  plan(link, wholeLabel, true, blockferry(link, whole), bfNote, syncOld(link));
  plan(link, "rsync --inplace --no-whole-file", true, rsyncTool(link, after, target), () => "");
  rows = await runAll(plans);
  linkFloor = await measureLinkFloor(link, rounds);
} finally {
  link.cleanup();
}

// What the disk allows a cached run against an uncached one, on this one machine: the source's
// data read alone, and beside the target's copy read at the same time.
resetTarget(pool, target);
const alone: number[] = [];
const both: number[] = [];
for (let r = 0; r < rounds; r++) {
  alone.push(await readFloor(after));
  both.push(await readFloor(after, target));
}
const [floorAlone, floorBoth] = [medianOf(alone), medianOf(both)];

const full = rows[0]?.seconds ?? Number.NaN;
const command = [
  `--gib ${values.gib} --files ${files} --rounds ${rounds} --target-dir ${values["target-dir"]}`,
  ...(values.only === "" ? [] : [`--only '${values.only}'`]),
  ...(values.plaintext ? ["--plaintext"] : []),
].join(" ");
const lines = [
  `\`npm run build && sudo npx tsx bench/pool-delta.ts ${command}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
  "",
  `A ${values.gib} GiB ext4 image holding ${files} pool files (1 to 49 KiB, half compressible) hardlinked into`,
  `per-host trees; then ${added} new pool files with their links, ${added / 20} deletions and ${added / 20} rewrites,`,
  `through the filesystem: ${changedBlocks} of ${bytes / 4096} 4 KiB blocks changed (${((100 * changedBlocks * 4096) / bytes).toFixed(2)}%).`,
  `Same emulated 1 Gbit link; the target on ${values["target-dir"]}; caches dropped and the target reset to the old image before each run;`,
  `each row the run of median time of ${rounds} (its bytes, CPU and peak RSS too), the rows taken in turn, round after round.`,
  "",
  "| tool | seconds | vs full copy | floor s | × floor | MB source→target | MB target→source | CPU s source / target | peak RSS MiB source / target | identical | notes |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
  ...rows.map((r) => {
    const floor = rowFloor(linkFloor, floorAlone, r.tx);
    const vsFloor = `${floor.toFixed(2)} | ${(r.seconds / floor).toFixed(2)}`;
    const usage = `${r.cpu.map((c) => c.toFixed(2)).join(" / ")} | ${r.rss.map((m) => m.toFixed(0)).join(" / ")}`;
    return `| ${r.tool} | ${r.seconds.toFixed(1)} | ${(r.seconds / full).toFixed(2)} | ${vsFloor} | ${(r.tx / 1e6).toFixed(1)} | ${(r.rx / 1e6).toFixed(1)} | ${usage} | ${r.identical ? "yes" : "NO"} | ${r.note} |`;
  }),
  "",
  `A row's floor: the start (\`blockferry --version\`, ${linkFloor.startSeconds.toFixed(2)} s), then the slower of reading the source's`,
  `data (${floorAlone.toFixed(2)} s, below) and the row's bytes at the link's goodput (\`dd | nc\` of 1 GiB: ${(linkFloor.goodput / 1e6).toFixed(1)} MB/s).`,
  "",
  `The disk's floor, same run (medians of ${rounds}): reading the source's data as the source does`,
  `(bench/lib/read-floor.ts) takes ${floorAlone.toFixed(2)} s alone and ${floorBoth.toFixed(2)} s beside the target's copy read at the`,
  `same time, as in an uncached delta: on this one disk a cached run can take no less than`,
  `${(floorAlone / floorBoth).toFixed(2)} of an uncached one, before the fixed costs both pay (process start, connection).`,
];
const table = lines.join("\n");
console.log(table);
writeSection("pool-own-storage", "Delta on a backup-pool image, the target on its own storage (issues 4, 20)", table);
for (const left of [target, `${target}.blockferry-state.json`, `${target}.blockferry-history.jsonl`, after]) {
  rmSync(left, { force: true });
}
