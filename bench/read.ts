/**
 * Read throughput of a loop device: blockferry's O_DIRECT batched reads (with
 * and without digests) and buffered reads, beside `dd iflag=direct bs=4M` on
 * the same device in the same run. Caches are dropped before every trial;
 * each trial is a fresh process; the median of the rounds is reported.
 * Needs root.  Run: npm run bench:read [-- --gib 2 --rounds 3]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { seededBytes } from "../test/helpers/random.js";
import { dropCaches } from "./lib/host.js";

const { values } = parseArgs({
  options: { gib: { type: "string", default: "2" }, rounds: { type: "string", default: "3" } },
});
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
if (process.getuid?.() !== 0) throw new Error("bench:read needs root (loop devices, drop_caches)");

const outDir = join(import.meta.dirname, "out");
mkdirSync(outDir, { recursive: true });
const image = join(outDir, "read.img");
const chunk = 64 << 20;
const fd = openSync(image, "w");
for (let off = 0; off < bytes; off += chunk) writeSync(fd, seededBytes(Math.min(chunk, bytes - off), off / chunk));
closeSync(fd);
const device = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();

function dd(): number {
  const r = spawnSync("dd", [`if=${device}`, "of=/dev/null", "bs=4M", "iflag=direct"], { encoding: "utf8" });
  const m = /^(\d+) bytes .* copied, ([\d.]+) s/m.exec(r.stderr);
  if (!m) throw new Error(`dd: ${r.stderr}`);
  return Number(m[1]) / Number(m[2]);
}

function blockferry(...args: string[]): number {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "read-volume.ts"), device, ...args],
    {
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(`read-volume: ${r.stderr}`);
  const { bytes: n, seconds } = JSON.parse(r.stdout) as { bytes: number; seconds: number };
  return n / seconds;
}

const tools: Array<[string, () => number]> = [
  ["dd iflag=direct bs=4M", dd],
  ["blockferry O_DIRECT, digests (64 KiB blocks, 2 batches of 64 MiB in flight)", () => blockferry()],
  ["blockferry O_DIRECT, no digests", () => blockferry("--no-digest")],
  ["blockferry O_DIRECT, digests, one batch in flight", () => blockferry("--depth", "1")],
  ["blockferry buffered, digests", () => blockferry("--buffered")],
];
const rates = new Map<string, number[]>(tools.map(([name]) => [name, []]));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of tools) {
      dropCaches();
      rates.get(name)?.push(run());
    }
  }
} finally {
  execFileSync("losetup", ["--detach", device]);
  rmSync(image);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const baseline = median(rates.get(tools[0]?.[0] ?? "") ?? []);
console.log(`Loop device over a ${values.gib} GiB image, caches dropped before each trial, median of ${rounds}.\n`);
console.log("| reader | MB/s | vs dd |\n|---|---:|---:|");
for (const [name, xs] of rates) {
  const m = median(xs);
  console.log(`| ${name} | ${(m / 1e6).toFixed(0)} | ${(m / baseline).toFixed(2)} |`);
}
