/**
 * --read-limit (issue 20): is the source's disk read at the rate asked? A
 * local full copy of a random image (every byte read) to tmpfs (the target
 * on its own storage), caches dropped before each row, rows in turn over
 * rounds; the rate is the bytes the source read over the sync's own seconds.
 * An unlimited row shows the disk's own pace, which must be well above the
 * limits for them to mean anything.
 *
 *   npm run build && sudo npx tsx bench/read-limit.ts [--gib 1] [--rounds 3]
 * Writes its table into bench/RESULTS.md.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dropCaches, machine } from "./lib/host.js";
import { image } from "./lib/images.js";
import { cli, out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";
import { identical, median } from "./lib/run.js";

const { values } = parseArgs({
  options: { gib: { type: "string", default: "1" }, rounds: { type: "string", default: "3" } },
});
if (process.getuid?.() !== 0) throw new Error("needs root (drop_caches, tmpfs)");
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
const dir = join(out, "read-limit");
mkdirSync(dir, { recursive: true });
const source = image(dir, "random", bytes);
const shm = join("/dev/shm", `bf-read-limit-${process.pid}`);
mkdirSync(shm, { recursive: true });
// Well below what this machine reads and copies unlimited (the first row), or they would measure the machine.
const limits = [undefined, 20e6, 60e6];
const rates = new Map<number | undefined, number[]>(limits.map((l) => [l, []]));

function once(limit: number | undefined): number {
  const target = join(shm, "copy.img");
  rmSync(target, { force: true });
  dropCaches();
  const args = ["sync", "--json", "--quiet", "--create", "--no-cache", source, target];
  if (limit !== undefined) args.push("--read-limit", String(limit));
  const summary = JSON.parse(execFileSync(process.execPath, [cli, ...args], { encoding: "utf8" }));
  if (!identical(source, target)) throw new Error("the copy differs from the source");
  return summary.bytes.read / summary.seconds;
}

try {
  for (let round = 1; round <= rounds; round++) {
    for (const limit of limits) {
      const rate = once(limit);
      rates.get(limit)?.push(rate);
      console.log(`round ${round}, --read-limit ${limit ?? "none"}: ${(rate / 1e6).toFixed(1)} MB/s`);
    }
  }
} finally {
  rmSync(shm, { recursive: true, force: true });
}

const mb = (x: number) => (x / 1e6).toFixed(1);
const rows = limits.map((limit) => {
  const got = median(rates.get(limit) as number[]);
  const off = limit === undefined ? "" : `${(((got - limit) / limit) * 100).toFixed(1)}%`;
  return `| ${limit === undefined ? "none" : `${mb(limit)} MB/s`} | ${mb(got)} MB/s | ${off} |`;
});
writeSection(
  "read-limit",
  "--read-limit: the source's disk read rate (issue 20)",
  [
    `\`npm run build && sudo npx tsx bench/read-limit.ts --gib ${values.gib} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
    `A local full copy of a ${values.gib} GiB random image to tmpfs; rate = bytes the source read / the sync's seconds (medians of ${rounds}).`,
    "",
    "| --read-limit | read rate | off the limit |",
    "|---|---:|---:|",
    ...rows,
  ].join("\n"),
);
