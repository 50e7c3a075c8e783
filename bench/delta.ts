/**
 * Block size study over the emulated gigabit link (issue 4): a random image
 * is changed in two ways, scattered 4 KiB writes and large rewrites (10 MiB
 * runs), and each change is synced by blockferry with several block sizes,
 * with and without the two-level comparison. Before each run the target is
 * reset to the old image and the page cache is dropped; after it, `cmp`.
 *   npm run build && sudo npx tsx bench/delta.ts [--gib 4] [--scattered 655] [--large 40]
 */
import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { seededBytes, seededInts } from "../test/helpers/random.js";
import { dropCaches, machine } from "./lib/host.js";
import { image } from "./lib/images.js";
import { bothDone, measured, startReceiver } from "./lib/measure.js";
import { cli, out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "4" },
    scattered: { type: "string", default: "655" },
    large: { type: "string", default: "40" },
  },
});
const bytes = Number(values.gib) * 2 ** 30;
const old = image(out, "random", bytes);
const source = join(out, "delta-source.img");
const target = join(out, "delta-target.img");
const LARGE = 10 * 2 ** 20;

const variants: Array<[string, string[]]> = [
  ["64K blocks", ["--block-size", "64K", "--fine-block-size", "0"]],
  ["64K blocks, two-level (the default)", ["--block-size", "64K"]],
  ["16K blocks", ["--block-size", "16K", "--fine-block-size", "0"]],
  ["1M blocks", ["--block-size", "1M", "--fine-block-size", "0"]],
  ["1M blocks, two-level", ["--block-size", "1M"]],
];

/** Makes the source the old image with one kind of change; returns the bytes changed. */
function changeSource(kind: "scattered" | "large"): number {
  copyFileSync(old, source);
  const fd = openSync(source, "r+");
  const pick = seededInts(kind === "scattered" ? 77 : 78);
  let changed = 0;
  if (kind === "scattered") {
    for (let i = 0; i < Number(values.scattered); i++) {
      writeSync(fd, seededBytes(4096, 900 + i), 0, 4096, pick(bytes / 4096) * 4096);
      changed += 4096;
    }
  } else {
    for (let i = 0; i < Number(values.large); i++) {
      writeSync(fd, seededBytes(LARGE, 5000 + i), 0, LARGE, pick(bytes / LARGE) * LARGE);
      changed += LARGE;
    }
  }
  closeSync(fd);
  return changed;
}

async function sync(link: Link, args: string[]) {
  dropCaches();
  const { receiver, port } = await startReceiver(link.dst, cli, link.dstIp, target);
  const [tx0, rx0] = [link.txBytes(), link.rxBytes()];
  const started = performance.now();
  const sender = measured(link.src, [
    process.execPath,
    cli,
    "sync",
    "--json",
    "--quiet",
    ...args,
    source,
    `tcp://${link.dstIp}:${port}/t`,
  ]);
  const [s, r] = await bothDone(sender, receiver);
  const seconds = (performance.now() - started) / 1000;
  if (s.code !== 0 || r.code !== 0) throw new Error(`${args.join(" ")}: ${s.stderr} ${r.stderr}`);
  let identical = true;
  try {
    execFileSync("cmp", ["-s", source, target]);
  } catch {
    identical = false;
  }
  const summary = JSON.parse(s.stdout);
  return { seconds, tx: link.txBytes() - tx0, rx: link.rxBytes() - rx0, identical, summary };
}

const rows: string[] = [];
const link = createLink({ rate: "1gbit" });
try {
  changeSource("scattered");
  rmSync(target, { force: true });
  const full = await sync(link, ["--full"]);
  rows.push(
    `| full copy (reference) | 64K | ${full.seconds.toFixed(1)} | 1.00 | ${(full.tx / 1e6).toFixed(1)} | ${(full.rx / 1e6).toFixed(1)} | | ${full.identical ? "yes" : "NO"} |`,
  );
  for (const kind of ["scattered", "large"] as const) {
    const changed = changeSource(kind);
    for (const [label, args] of variants) {
      copyFileSync(old, target);
      rmSync(`${target}.blockferry-state.json`, { force: true });
      const r = await sync(link, ["--no-cache", ...args]);
      const what =
        kind === "scattered" ? `${values.scattered} scattered 4 KiB writes` : `${values.large} rewrites of 10 MiB`;
      rows.push(
        `| ${what} (${(changed / 1e6).toFixed(1)} MB) | ${label} | ${r.seconds.toFixed(1)} | ${(r.seconds / full.seconds).toFixed(2)} | ` +
          `${(r.tx / 1e6).toFixed(1)} | ${(r.rx / 1e6).toFixed(1)} | ${r.summary.blocks.changed} | ${r.identical ? "yes" : "NO"} |`,
      );
      console.error(rows.at(-1));
    }
  }
} finally {
  link.cleanup();
  for (const f of [target, `${target}.blockferry-state.json`, source]) rmSync(f, { force: true });
}

const table = [
  `\`npm run build && sudo npx tsx bench/delta.ts --gib ${values.gib} --scattered ${values.scattered} --large ${values.large}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
  "",
  `A ${values.gib} GiB random image; the target reset to the old image and caches dropped before each run.`,
  "",
  "| change | blockferry | seconds | vs full copy | MB source→target | MB target→source | blocks changed | identical |",
  "|---|---|---:|---:|---:|---:|---:|---|",
  ...rows,
].join("\n");
console.log(table);
writeSection("blocksize", "Block size: scattered and large changes (issue 4)", table);
