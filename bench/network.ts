/**
 * Full-copy benchmark over an emulated gigabit link (issue 3), in one run:
 * `dd | nc` as the baseline, and blockferry plain and with lz4, on a random
 * image, an image with 50% zero blocks and a 2:1 compressible image; plus the
 * memory of each side on a 1 TiB sparse volume. Caches are dropped before
 * every copy; each copy goes to a fresh target and is compared with the
 * source afterwards. Link bytes come from the veth's counters.
 *
 * Needs root, iproute2, ethtool, netcat-openbsd, GNU time, and `npm run build`.
 *   sudo npx tsx bench/network.ts [--gib 4] [--rounds 1]
 * Writes its table into bench/RESULTS.md.
 */
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { seededBytes } from "../test/helpers/random.js";
import { machine } from "./lib/host.js";
import { type ImageKind, image } from "./lib/images.js";
import type { Usage } from "./lib/measure.js";
import { out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";
import { freshCopy } from "./lib/run.js";
import { blockferryTool, ddNcTool } from "./lib/tools.js";

const { values } = parseArgs({
  options: { gib: { type: "string", default: "4" }, rounds: { type: "string", default: "1" } },
});
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, drop_caches)");
const target = join(out, "target.img");
const stateDir = join(out, "state");

interface Row {
  scenario: string;
  tool: string;
  seconds: number;
  linkBytes: number;
  sender: Usage;
  receiver: Usage;
  identical: boolean | undefined;
}

async function copy(link: Link, tool: string, source: string, compare = true): Promise<Omit<Row, "scenario">> {
  const start =
    tool === "dd | nc"
      ? ddNcTool(link, source, target)
      : blockferryTool(link, source, target, {
          receive: ["--state-dir", stateDir],
          sync: ["--quiet", ...(tool.includes("lz4") ? ["--compress", "lz4"] : [])],
        });
  const r = await freshCopy(link, tool, source, target, start, compare);
  return { tool, seconds: r.seconds, linkBytes: r.tx, sender: r.sender, receiver: r.receiver, identical: r.identical };
}

function sparseTiB(): string {
  const path = join(out, "sparse-1tib.img");
  if (!existsSync(path)) {
    writeFileSync(path, "");
    const fd = openSync(path, "r+");
    for (let i = 0; i < 16; i++)
      writeSync(fd, seededBytes(4 * 1024 * 1024, 50 + i), 0, 4 * 1024 * 1024, i * 64 * 2 ** 30);
    closeSync(fd);
    execFileSync("truncate", ["-s", "1T", path]);
  }
  return path;
}

const scenarios: Array<{ name: string; kind: ImageKind; tools: string[] }> = [
  { name: `random ${values.gib} GiB`, kind: "random", tools: ["dd | nc", "blockferry"] },
  { name: `50% zero blocks ${values.gib} GiB`, kind: "half-zero", tools: ["dd | nc", "blockferry"] },
  {
    name: `2:1 compressible ${values.gib} GiB`,
    kind: "compressible",
    tools: ["dd | nc", "blockferry", "blockferry lz4"],
  },
];

const link = createLink({ rate: "1gbit" });
const rows: Row[] = [];
try {
  for (const sc of scenarios) {
    const source = image(out, sc.kind, bytes);
    for (let round = 0; round < rounds; round++) {
      for (const tool of sc.tools) {
        const r = await copy(link, tool, source);
        console.error(`${sc.name}, ${tool}: ${r.seconds.toFixed(1)} s, identical ${r.identical}`);
        rows.push({ scenario: sc.name, ...r });
      }
    }
  }
  const sparse = sparseTiB();
  const r = await copy(link, "blockferry", sparse, false);
  rows.push({ scenario: "1 TiB sparse (64 MiB of data)", ...r });
  console.error(`1 TiB sparse: ${r.seconds.toFixed(1)} s`);
} finally {
  link.cleanup();
  rmSync(target, { force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const lines = [
  `\`sudo npx tsx bench/network.ts --gib ${values.gib} --rounds ${rounds}\` (after \`npm run build\`).`,
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}. Emulated link: veth pair between two`,
  "network namespaces, `tc tbf rate 1gbit burst 256kb latency 50ms overhead 24` on both ends, TSO/GSO/GRO off.",
  "Caches dropped before every copy; every copy into a fresh target file, compared with `cmp` afterwards.",
  "Time is from starting the sender until both sides exited (the receiver listening beforehand); `dd | nc` is",
  "`dd bs=1M iflag=direct | nc -N` into `nc -l | dd bs=4M conv=fdatasync`. Link bytes: the source veth's tx counter.",
  `Median of ${rounds} round(s).`,
  "",
  "| scenario | tool | seconds | vs dd \\| nc | link MB | sender CPU s | receiver CPU s | sender RSS MiB | receiver RSS MiB | identical |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
];
const groups = new Map<string, Row[]>();
for (const row of rows)
  groups.set(`${row.scenario}\u0000${row.tool}`, [...(groups.get(`${row.scenario}\u0000${row.tool}`) ?? []), row]);
for (const [key, rs] of groups) {
  const [scenario, tool] = key.split("\u0000") as [string, string];
  const base = groups.get(`${scenario}\u0000dd | nc`);
  const secs = median(rs.map((r) => r.seconds));
  const ratio = base ? (secs / median(base.map((r) => r.seconds))).toFixed(2) : "";
  const m = (f: (r: Row) => number, digits = 1) => median(rs.map(f)).toFixed(digits);
  const identical = rs.every((r) => r.identical === undefined) ? "n/a" : rs.every((r) => r.identical) ? "yes" : "NO";
  lines.push(
    `| ${scenario} | ${tool.replace("|", "\\|")} | ${secs.toFixed(1)} | ${ratio} | ${m((r) => r.linkBytes / 1e6, 0)} | ` +
      `${m((r) => r.sender.cpuSeconds)} | ${m((r) => r.receiver.cpuSeconds)} | ${m((r) => r.sender.maxRssMiB, 0)} | ` +
      `${m((r) => r.receiver.maxRssMiB, 0)} | ${identical} |`,
  );
}
const table = lines.join("\n");
console.log(table);
writeSection("network", "Full copy over an emulated gigabit link (issue 3)", table);
