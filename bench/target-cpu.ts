/**
 * The target's CPU seconds per GiB, for two builds in one run (issue 17):
 * this checkout's and a baseline's (`--baseline PATH/dist/cli/main.js`, a
 * build of an earlier commit). Over the emulated gigabit link (TLS, as users
 * run it), with the target on tmpfs (its own storage), rows taken in turn
 * round after round, caches dropped before each; medians.
 *   - full copy of a random image (raw blocks);
 *   - full copy of a 2:1 compressible image with --compress lz4;
 *   - delta (--no-cache): the target holds the image before 1% of its 64 KiB
 *     blocks were rewritten at scattered places, reads it and streams digests.
 *
 *   sudo npx tsx bench/target-cpu.ts --baseline /path/to/old/dist/cli/main.js [--gib 2] [--rounds 3]
 * Writes its table into bench/RESULTS.md.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { seededBytes, seededInts } from "../test/helpers/random.js";
import { machine } from "./lib/host.js";
import { image } from "./lib/images.js";
import { cli, out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";
import { identical, median, timedRun } from "./lib/run.js";
import { blockferryTool } from "./lib/tools.js";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    baseline: { type: "string" },
  },
});
if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, drop_caches)");
if (values.baseline === undefined || !existsSync(values.baseline)) {
  throw new Error("--baseline: expected the dist/cli/main.js of a build of an earlier commit");
}
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
const builds = [
  { name: "before", cli: values.baseline },
  { name: "after", cli },
];
const shm = "/dev/shm/blockferry-target-cpu";
mkdirSync(shm, { recursive: true });
const target = join(shm, "target.img");

/** The random image with 1% of its 64 KiB blocks rewritten at scattered places. */
function changedCopy(base: string): string {
  const path = join(out, `random-${bytes}-changed.img`);
  if (existsSync(path)) return path;
  copyFileSync(base, path);
  const fd = openSync(path, "r+");
  const pick = seededInts(77);
  const blocks = bytes / 65536;
  for (let i = 0; i < blocks / 100; i++) writeSync(fd, seededBytes(65536, 5000 + i), 0, 65536, pick(blocks) * 65536);
  closeSync(fd);
  return path;
}

interface Scenario {
  name: string;
  source: string;
  sync: string[];
  /** The target's content before the sync (undefined: none, a full copy into a fresh file). */
  held?: string;
}

const random = image(out, "random", bytes);
const scenarios: Scenario[] = [
  { name: "full copy, random", source: random, sync: [] },
  { name: "full copy, 2:1 compressible, lz4", source: image(out, "compressible", bytes), sync: ["--compress", "lz4"] },
  { name: "delta, 1% of blocks changed (--no-cache)", source: changedCopy(random), sync: ["--no-cache"], held: random },
];

interface Row {
  scenario: string;
  build: string;
  seconds: number;
  targetCpu: number;
  sourceCpu: number;
  linkBytes: number;
  identical: boolean;
}

async function measure(link: Link, sc: Scenario, build: { name: string; cli: string }): Promise<Row> {
  rmSync(target, { force: true });
  rmSync(`${target}.blockferry-state.json`, { force: true });
  if (sc.held !== undefined) copyFileSync(sc.held, target);
  const start = blockferryTool(link, sc.source, target, { sync: ["--quiet", ...sc.sync] }, build.cli);
  const r = await timedRun(link, `${sc.name} (${build.name})`, start);
  return {
    scenario: sc.name,
    build: build.name,
    seconds: r.seconds,
    targetCpu: r.receiver.cpuSeconds,
    sourceCpu: r.sender.cpuSeconds,
    linkBytes: r.tx,
    identical: identical(sc.source, target),
  };
}

const link = createLink({ rate: "1gbit" });
const rows: Row[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    for (const sc of scenarios) {
      for (const build of builds) {
        const row = await measure(link, sc, build);
        console.error(
          `round ${round + 1}, ${sc.name}, ${build.name}: ${row.seconds.toFixed(1)} s, target ${row.targetCpu.toFixed(2)} CPU s, identical ${row.identical}`,
        );
        rows.push(row);
      }
    }
  }
} finally {
  link.cleanup();
  rmSync(shm, { recursive: true, force: true });
}

const gib = bytes / 2 ** 30;
const lines = [
  `\`sudo npx tsx bench/target-cpu.ts --baseline BEFORE/dist/cli/main.js --gib ${values.gib} --rounds ${rounds}\``,
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}: both builds in one run, rows in turn,`,
  `medians of ${rounds}. Emulated gigabit link (TLS), target image on tmpfs, caches dropped before each row.`,
  "CPU seconds from GNU time (user + system) of each process; per GiB of the volume.",
  "",
  "| scenario | build | seconds | target CPU s per GiB | source CPU s per GiB | link MB | identical |",
  "|---|---|---:|---:|---:|---:|---|",
];
for (const sc of scenarios) {
  for (const build of builds) {
    const rs = rows.filter((r) => r.scenario === sc.name && r.build === build.name);
    const m = (f: (r: Row) => number) => median(rs.map(f));
    lines.push(
      `| ${sc.name} | ${build.name} | ${m((r) => r.seconds).toFixed(1)} | ${(m((r) => r.targetCpu) / gib).toFixed(2)} | ` +
        `${(m((r) => r.sourceCpu) / gib).toFixed(2)} | ${(m((r) => r.linkBytes) / 1e6).toFixed(0)} | ${rs.every((r) => r.identical) ? "yes" : "NO"} |`,
    );
  }
}
const table = lines.join("\n");
console.log(table);
writeSection("target-cpu", "The target's CPU per GiB, before and after one copy per block (issue 17)", table);
