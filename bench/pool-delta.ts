/**
 * Delta sync on a backup-pool-like ext4 image (issue 4): the image is made,
 * copied, changed through the filesystem as a night of backups would (about
 * 1% of its files), then brought up to date over the emulated gigabit link by
 * blockferry at several block sizes (with the target's digests, and with the
 * source's digest cache) and by `rsync --inplace --no-whole-file`, in one run.
 * Before each run the target is reset to the old image (for the cached run,
 * by an unmeasured sync of the old image, which leaves the cache behind) and
 * the page cache is dropped; after it, the target is compared with `cmp`.
 *   npm run build && sudo npx tsx bench/pool-delta.ts [--gib 4] [--files 80000]
 */
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { secretFile } from "./lib/keys.js";
import { bothDone, type Measured, measured, startReceiver } from "./lib/measure.js";
import { createLink, dropCaches, type Link, machine } from "./lib/netns.js";
import { cli, out } from "./lib/paths.js";
import { change, makePoolImage } from "./lib/pool-image.js";
import { writeSection } from "./lib/results.js";

const { values } = parseArgs({
  options: {
    gib: { type: "string", default: "4" },
    files: { type: "string", default: "80000" },
    rounds: { type: "string", default: "1" },
    /** Only the rows whose name contains one of these (comma-separated); the full copy always runs. */
    only: { type: "string", default: "" },
    /** blockferry with --insecure-plaintext (as the rsync daemon here), instead of its default TLS. */
    plaintext: { type: "boolean", default: false },
  },
});
const bytes = Number(values.gib) * 2 ** 30;
const files = Number(values.files);
const added = Math.round(files / 100);
const before = join(out, `pool-before-${values.gib}g-${files}.img`);
const after = join(out, "pool-after.img");
const target = join(out, "pool-target.img");
const cacheDir = join(out, "digest-cache");

if (!existsSync(`${before}.made`)) {
  console.error(`making ${before} with ${files} pool files...`);
  makePoolImage(before, bytes, files);
  writeFileSync(`${before}.made`, "v1");
}
execFileSync("cp", ["--sparse=always", before, after]);
change(after, files, added);

/** 4 KiB blocks that differ between two images. */
function changed4k(a: string, b: string): number {
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  const chunk = 64 << 20;
  const ba = Buffer.alloc(chunk);
  const bb = Buffer.alloc(chunk);
  let n = 0;
  for (let off = 0; off < bytes; off += chunk) {
    const ra = readSync(fa, ba, 0, chunk, off);
    readSync(fb, bb, 0, chunk, off);
    for (let i = 0; i < ra; i += 4096) if (ba.compare(bb, i, i + 4096, i, i + 4096) !== 0) n++;
  }
  closeSync(fa);
  closeSync(fb);
  return n;
}
const changedBlocks = changed4k(before, after);

function counters(link: Link): [number, number] {
  return [link.txBytes(), link.rxBytes()];
}

interface Row {
  tool: string;
  seconds: number;
  tx: number;
  rx: number;
  identical: boolean;
  note: string;
}

const rounds = Number(values.rounds);

/** Runs a row `rounds` times and keeps the run of median time (its bytes too); the times go in its note. */
const only = values.only === "" ? [] : values.only.split(",");

async function run(...args: Parameters<typeof runOnce>): Promise<Row | undefined> {
  const tool = args[1];
  if (only.length > 0 && !tool.includes("full copy") && !only.some((o) => tool.includes(o))) return undefined;
  const all: Row[] = [];
  for (let i = 0; i < rounds; i++) all.push(await runOnce(...args));
  const mid = [...all].sort((a, b) => a.seconds - b.seconds)[Math.floor(all.length / 2)] as Row;
  const times = all.map((r) => r.seconds.toFixed(1)).join(", ");
  return {
    ...mid,
    identical: all.every((r) => r.identical),
    note: rounds > 1 ? `${mid.note} (runs: ${times} s)` : mid.note,
  };
}

async function runOnce(
  link: Link,
  tool: string,
  reset: boolean,
  start: () => Promise<{ receiver: Measured; args: string[] }>,
  note: (stdout: string) => string,
  prepare?: () => Promise<void>,
): Promise<Row> {
  rmSync(`${target}.blockferry-state.json`, { force: true });
  rmSync(cacheDir, { recursive: true, force: true });
  if (reset) execFileSync("cp", ["--sparse=always", before, target]);
  else rmSync(target, { force: true });
  await prepare?.();
  dropCaches();
  const { receiver, args } = await start();
  const [tx0, rx0] = counters(link);
  const t0 = performance.now();
  const sender = measured(link.src, args);
  const [s, r] = await bothDone(sender, receiver);
  const seconds = (performance.now() - t0) / 1000;
  const [tx1, rx1] = counters(link);
  if (s.code !== 0) throw new Error(`${tool}: ${s.stderr} ${r.stderr}`);
  let identical = true;
  try {
    execFileSync("cmp", ["-s", after, target]);
  } catch {
    identical = false;
  }
  const row = { tool, seconds, tx: tx1 - tx0, rx: rx1 - rx0, identical, note: note(s.stdout) };
  console.error(`${tool}: ${seconds.toFixed(1)} s, ${(row.tx / 1e6).toFixed(1)} MB, identical ${identical}`);
  return row;
}

const blockferry =
  (link: Link, extra: string[], source = after) =>
  async () => {
    const transport = values.plaintext ? ["--insecure-plaintext", "--secret-file", secretFile] : [];
    const { receiver, port } = await startReceiver(link.dst, cli, link.dstIp, target, transport);
    const sync = ["sync", "--json", "--quiet", "--cache-dir", cacheDir, ...transport, ...extra];
    return { receiver, args: [process.execPath, cli, ...sync, source, `tcp://${link.dstIp}:${port}/t`] };
  };
/** The target as the old image, synced by blockferry: its state and the source's digest cache now describe it. */
const syncOld = (link: Link) => async () => {
  const { receiver, args } = await blockferry(link, [], before)();
  const [s] = await bothDone(measured(link.src, args), receiver);
  if (s.code !== 0) throw new Error(`preparing the cached run: ${s.stderr}`);
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

const link = createLink("1gbit");
const rows: Array<Row | undefined> = [];
try {
  rows.push(await run(link, "blockferry full copy (64K)", false, blockferry(link, []), bfNote));
  for (const bs of ["4K", "16K", "64K", "256K", "1M"]) {
    const args = ["--no-cache", "--block-size", bs, "--fine-block-size", "0"];
    rows.push(await run(link, `blockferry delta, ${bs} blocks`, true, blockferry(link, args), bfNote));
  }
  for (const bs of ["64K", "1M"]) {
    const args = ["--no-cache", "--block-size", bs];
    const label = `blockferry delta, ${bs} blocks, two-level (4K pieces)${bs === "64K" ? ": the default" : ""}`;
    rows.push(await run(link, label, true, blockferry(link, args), bfNote));
  }
  rows.push(
    await run(link, "blockferry delta with digest cache, 64K", true, blockferry(link, []), bfNote, syncOld(link)),
  );
  const conf = join(out, "rsyncd.conf");
  writeFileSync(conf, `use chroot = no\nuid = root\ngid = root\n[t]\npath = ${out}\nread only = no\n`);
  rows.push(
    await run(
      link,
      "rsync --inplace --no-whole-file",
      true,
      async () => {
        const port = 8000 + Math.floor(Math.random() * 1000);
        const receiver = measured(link.dst, [
          "rsync",
          "--daemon",
          "--no-detach",
          `--address=${link.dstIp}`,
          `--port=${port}`,
          `--config=${conf}`,
        ]);
        await new Promise((r) => setTimeout(r, 500));
        const args = [
          "sh",
          "-c",
          `rsync --inplace --no-whole-file ${after} rsync://${link.dstIp}:${port}/t/${target.split("/").pop()} && kill ${receiver.child.pid}`,
        ];
        return { receiver, args };
      },
      () => "",
    ),
  );
} finally {
  link.cleanup();
  try {
    execFileSync("pkill", ["-f", "rsync --daemon --no-detach"], { stdio: "ignore" });
  } catch {
    // none left
  }
}

const done = rows.filter((r): r is Row => r !== undefined);
const full = done[0]?.seconds ?? Number.NaN;
const lines = [
  `\`npm run build && sudo npx tsx bench/pool-delta.ts --gib ${values.gib} --files ${files} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
  "",
  `A ${values.gib} GiB ext4 image holding ${files} pool files (1 to 49 KiB, half compressible) hardlinked into`,
  `per-host trees; then ${added} new pool files with their links, ${added / 20} deletions and ${added / 20} rewrites,`,
  `through the filesystem: ${changedBlocks} of ${bytes / 4096} 4 KiB blocks changed (${((100 * changedBlocks * 4096) / bytes).toFixed(2)}%).`,
  "Same emulated 1 Gbit link; caches dropped and the target reset to the old image before each run;",
  `each row the median of ${rounds} run(s).`,
  "",
  "| tool | seconds | vs full copy | MB source→target | MB target→source | identical | notes |",
  "|---|---:|---:|---:|---:|---|---|",
  ...done.map(
    (r) =>
      `| ${r.tool} | ${r.seconds.toFixed(1)} | ${(r.seconds / full).toFixed(2)} | ${(r.tx / 1e6).toFixed(1)} | ${(r.rx / 1e6).toFixed(1)} | ${r.identical ? "yes" : "NO"} | ${r.note} |`,
  ),
];
const table = lines.join("\n");
console.log(table);
writeSection("pool", "Delta on a backup-pool image (issue 4)", table);
rmSync(target, { force: true });
rmSync(after, { force: true });
