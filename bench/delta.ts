/**
 * A first delta measurement over the emulated gigabit link: full copy of a
 * random image, then `--changes` scattered 4 KiB writes to the source, then a
 * delta sync; time and link bytes of each, and `cmp` of the result. (The
 * issue's full delta benchmark, on an ext4 pool image against rsync, is still
 * to be written.)   sudo npx tsx bench/delta.ts [--gib 4] [--changes 655]
 */
import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { seededBytes, seededInts } from "../test/helpers/random.js";
import { image } from "./lib/images.js";
import { measured, startReceiver } from "./lib/measure.js";
import { createLink, dropCaches, type Link } from "./lib/netns.js";

const { values } = parseArgs({
  options: { gib: { type: "string", default: "4" }, changes: { type: "string", default: "655" } },
});
const bytes = Number(values.gib) * 2 ** 30;
const cli = join(import.meta.dirname, "..", "dist", "cli", "main.js");
if (!existsSync(cli)) throw new Error("run `npm run build` first");
const out = join(import.meta.dirname, "out");
mkdirSync(out, { recursive: true });
const source = join(out, "delta-source.img");
const target = join(out, "delta-target.img");

async function sync(link: Link, label: string): Promise<void> {
  dropCaches();
  const { receiver, port } = await startReceiver(link.dst, cli, link.dstIp, target);
  const tx0 = link.txBytes();
  const rx0 = link.rxBytes();
  const started = performance.now();
  const sender = measured(link.src, [
    process.execPath,
    cli,
    "sync",
    "--json",
    "--quiet",
    source,
    `tcp://${link.dstIp}:${port}/t`,
  ]);
  const [s, r] = await Promise.all([sender.done, receiver.done]);
  const seconds = (performance.now() - started) / 1000;
  const rx = link.rxBytes() - rx0;
  if (s.code !== 0 || r.code !== 0) throw new Error(`${label}: ${s.stderr} ${r.stderr}`);
  const summary = JSON.parse(s.stdout);
  let identical = true;
  try {
    execFileSync("cmp", ["-s", source, target]);
  } catch {
    identical = false;
  }
  console.log(
    `| ${label} | ${summary.mode} | ${seconds.toFixed(1)} | ${((link.txBytes() - tx0) / 1e6).toFixed(1)} | ${(rx / 1e6).toFixed(1)} | ` +
      `${summary.blocks.changed} | ${(summary.bytes.targetRead / 2 ** 20).toFixed(0)} | ${identical ? "yes" : "NO"} |`,
  );
}

copyFileSync(image(out, "random", bytes), source);
rmSync(target, { force: true });
const link = createLink("1gbit");
try {
  console.log(
    "| run | mode | seconds | MB source→target | MB target→source | blocks sent | target read MiB | identical |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---|");
  await sync(link, "first sync (full copy)");
  const pick = seededInts(77);
  const fd = openSync(source, "r+");
  for (let i = 0; i < Number(values.changes); i++)
    writeSync(fd, seededBytes(4096, 900 + i), 0, 4096, pick(bytes / 4096) * 4096);
  closeSync(fd);
  await sync(link, `after ${values.changes} scattered 4 KiB writes`);
} finally {
  link.cleanup();
  rmSync(target, { force: true });
  rmSync(`${target}.blockferry-state.json`, { force: true });
  rmSync(source, { force: true });
}
