/**
 * Full copies against their floors (issue 20): a small backup-pool image
 * (256 MiB, compressed with lz4) against its wire time and `dd | lz4 | nc`,
 * and a 2 GiB random image against `dd iflag=direct | nc`, over the emulated
 * gigabit link, the target on its own storage (tmpfs). Each row also gives
 * each side's CPU seconds per GiB of volume and peak RSS. Rows in turn,
 * round after round; medians. Caches dropped before every copy; every copy
 * into a fresh target, compared with `cmp`.
 * Needs root, iproute2, ethtool, netcat-openbsd, lz4, GNU time, and `npm run build`.
 *   npm run build && sudo npx tsx bench/full-copy.ts [--rounds 3]
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { machine } from "./lib/host.js";
import { image } from "./lib/images.js";
import { out } from "./lib/paths.js";
import { poolScenario } from "./lib/pool-scenario.js";
import { writeSection } from "./lib/results.js";
import { type LinkFloor, measureLinkFloor } from "./lib/row-floor.js";
import { freshCopy, median, type Run, type Starter } from "./lib/run.js";
import { blockferryTool, ddNcTool, plaintext } from "./lib/tools.js";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, "target-dir": { type: "string", default: "/dev/shm" } },
});
const rounds = Number(values.rounds);
if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, drop_caches)");
const target = join(values["target-dir"] as string, "blockferry-full-copy.img");

interface Tool {
  name: string;
  start: (link: Link, source: string) => Starter;
}
interface Scenario {
  name: string;
  gib: number;
  source: string;
  tools: Tool[];
}

const bf =
  (sync: string[]) =>
  (link: Link, source: string): Starter =>
    blockferryTool(link, source, target, {
      receive: sync.includes(plaintext[0] as string) ? plaintext : [],
      sync: ["--quiet", ...sync],
    });
const scenarios: Scenario[] = [
  {
    name: "256 MiB backup-pool image",
    gib: 0.25,
    source: poolScenario("0.25", 5000).before,
    tools: [
      { name: "dd | lz4 | nc", start: (link, source) => ddNcTool(link, source, target, true) },
      { name: "blockferry --compress lz4 (TLS)", start: bf(["--compress", "lz4"]) },
      { name: "blockferry --compress lz4, plaintext", start: bf(["--compress", "lz4", ...plaintext]) },
    ],
  },
  {
    name: "2 GiB random",
    gib: 2,
    source: image(out, "random", 2 * 2 ** 30),
    tools: [
      { name: "dd iflag=direct | nc", start: (link, source) => ddNcTool(link, source, target) },
      { name: "blockferry (TLS)", start: bf([]) },
      { name: "blockferry, plaintext", start: bf(plaintext) },
    ],
  },
];

type Measured = Run & { identical: boolean | undefined };
const runs = new Map<string, Measured[]>();
const key = (s: Scenario, t: Tool) => `${s.name}\u0000${t.name}`;
const link = createLink({ rate: "1gbit" });
let floor: LinkFloor;
try {
  for (let round = 0; round < rounds; round++) {
    for (const s of scenarios) {
      for (const t of s.tools) {
        const r = await freshCopy(link, t.name, s.source, target, t.start(link, s.source));
        console.error(`${s.name}, ${t.name}: ${r.seconds.toFixed(2)} s, identical ${r.identical}`);
        runs.set(key(s, t), [...(runs.get(key(s, t)) ?? []), r]);
      }
    }
  }
  floor = await measureLinkFloor(link, rounds);
} finally {
  link.cleanup();
  for (const left of [target, `${target}.blockferry-state.json`, `${target}.blockferry-history.jsonl`]) {
    rmSync(left, { force: true });
  }
}

const lines = [
  `\`npm run build && sudo npx tsx bench/full-copy.ts --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
  "",
  "Same emulated 1 Gbit link as above; the target a fresh file on /dev/shm (its own storage); caches dropped",
  `before every copy; rows in turn, round after round; medians of ${rounds}. **wire s**: the row's own bytes on`,
  `the link at the goodput \`dd | nc\` reached in the same run (${(floor.goodput / 1e6).toFixed(1)} MB/s); **over wire**: the row's`,
  `seconds minus that. For scale, \`blockferry --version\` (Node's start and the CLI's file) took ${floor.startSeconds.toFixed(2)} s.`,
  "CPU: user + system seconds of each side's process tree per GiB of volume (GNU time); RSS: its peak.",
  "",
  "| scenario | tool | seconds | × first row | wire s | over wire s | link MB | source CPU s/GiB | target CPU s/GiB | source RSS MiB | target RSS MiB | identical |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
];
for (const s of scenarios) {
  const { gib } = s;
  const base = median((runs.get(key(s, s.tools[0] as Tool)) ?? []).map((r) => r.seconds));
  for (const t of s.tools) {
    const rs = runs.get(key(s, t)) ?? [];
    const m = (f: (r: Measured) => number) => median(rs.map(f));
    const seconds = m((r) => r.seconds);
    const wire = m((r) => r.tx) / floor.goodput;
    const identical = rs.every((r) => r.identical) ? "yes" : "NO";
    lines.push(
      `| ${s.name} | ${t.name.replaceAll("|", "\\|")} | ${seconds.toFixed(2)} | ${(seconds / base).toFixed(2)} | ` +
        `${wire.toFixed(2)} | ${(seconds - wire).toFixed(2)} | ${(m((r) => r.tx) / 1e6).toFixed(1)} | ` +
        `${(m((r) => r.sender.cpuSeconds) / gib).toFixed(2)} | ${(m((r) => r.receiver.cpuSeconds) / gib).toFixed(2)} | ` +
        `${m((r) => r.sender.maxRssMiB).toFixed(0)} | ${m((r) => r.receiver.maxRssMiB).toFixed(0)} | ${identical} |`,
    );
  }
}
const table = lines.join("\n");
console.log(table);
writeSection("full-copy-floor", "Full copies against their wire time, CPU and memory per side (issue 20)", table);
