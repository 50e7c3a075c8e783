/**
 * Transports (issue 5): a full copy of a random image over the emulated
 * gigabit link and over the same veth pair unthrottled, in one run, by
 * `dd | nc`, blockferry with --insecure-plaintext, blockferry over its
 * default mutual TLS, and blockferry over ssh (a real OpenSSH server in the
 * receiving namespace, ssh's default cipher). Caches dropped and a fresh target before every copy;
 * `cmp` after. Writes its table into bench/RESULTS.md.
 *   npm run build && sudo npx tsx bench/transports.ts [--gib 4] [--rounds 1]
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Sshd, startSshd } from "../test/helpers/sshd.js";
import { image } from "./lib/images.js";
import { secretFile } from "./lib/keys.js";
import { bothDone, ddNc, type Measured, measured, startReceiver } from "./lib/measure.js";
import { createLink, dropCaches, type Link, machine } from "./lib/netns.js";
import { cli, out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";

const { values } = parseArgs({
  options: { gib: { type: "string", default: "4" }, rounds: { type: "string", default: "1" } },
});
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
const source = image(out, "random", bytes);
const target = join(out, "transport-target.img");
const plaintext = ["--insecure-plaintext", "--secret-file", secretFile];
const tools = ["dd | nc", "blockferry --insecure-plaintext", "blockferry (TLS)", "blockferry over ssh"] as const;

async function copy(link: Link, tool: (typeof tools)[number], sshd: Sshd) {
  rmSync(target, { force: true });
  rmSync(`${target}.blockferry-state.json`, { force: true });
  dropCaches();
  let receiver: Measured;
  let args: string[];
  if (tool === "dd | nc") {
    ({ receiver, senderArgs: args } = await ddNc(link.dst, link.dstIp, source, target));
  } else if (tool === "blockferry over ssh") {
    receiver = measured(link.dst, ["true"]); // sshd starts the receiver
    const remote = `${process.execPath} ${cli}`;
    const dest = `root@${link.dstIp}:${target}`;
    args = [process.execPath, cli, "sync", "--quiet", "--create", "--rsh", sshd.sshArgs.join(" ")];
    args.push("--remote-path", remote, source, dest);
  } else {
    const extra = tool.includes("plaintext") ? plaintext : [];
    const started = await startReceiver(link.dst, cli, link.dstIp, target, extra);
    receiver = started.receiver;
    args = [process.execPath, cli, "sync", "--quiet", ...extra, source, `tcp://${link.dstIp}:${started.port}/t`];
  }
  const tx0 = link.txBytes();
  const t0 = performance.now();
  const [s, r] = await bothDone(measured(link.src, args), receiver);
  const seconds = (performance.now() - t0) / 1000;
  if (s.code !== 0 || r.code !== 0) throw new Error(`${tool}: ${s.stderr} ${r.stderr}`);
  let identical = true;
  try {
    execFileSync("cmp", ["-s", source, target]);
  } catch {
    identical = false;
  }
  console.error(`${tool}: ${seconds.toFixed(1)} s, sender CPU ${s.cpuSeconds.toFixed(1)} s`);
  return {
    seconds,
    linkMB: (link.txBytes() - tx0) / 1e6,
    senderCpu: s.cpuSeconds,
    receiverCpu: r.cpuSeconds,
    identical,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const rows: string[] = [];
for (const rate of ["1gbit", "none"]) {
  const link = createLink(rate);
  const sshd = await startSshd(join(out, "sshd"), { ns: link.dst, host: link.dstIp });
  try {
    const results = new Map<string, Awaited<ReturnType<typeof copy>>[]>();
    for (let round = 0; round < rounds; round++) {
      for (const tool of tools) results.set(tool, [...(results.get(tool) ?? []), await copy(link, tool, sshd)]);
    }
    const plain = median((results.get("blockferry --insecure-plaintext") ?? []).map((r) => r.seconds));
    for (const [tool, rs] of results) {
      const secs = median(rs.map((r) => r.seconds));
      const m = (f: (r: (typeof rs)[number]) => number) => median(rs.map(f)).toFixed(1);
      rows.push(
        `| ${rate === "none" ? "veth, unthrottled" : "1 Gbit (tbf)"} | ${tool.replace("|", "\\|")} | ${secs.toFixed(1)} | ` +
          `${(secs / plain).toFixed(2)} | ${((bytes / secs) * 8e-9).toFixed(2)} | ${m((r) => r.linkMB)} | ` +
          `${m((r) => r.senderCpu)} | ${m((r) => r.receiverCpu)} | ${rs.every((r) => r.identical) ? "yes" : "NO"} |`,
      );
    }
  } finally {
    sshd.stop();
    link.cleanup();
    rmSync(target, { force: true });
  }
}

const table = [
  `\`npm run build && sudo npx tsx bench/transports.ts --gib ${values.gib} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
  "",
  `Full copy of a random ${values.gib} GiB image; median of ${rounds} round(s); caches dropped and a fresh target each time.`,
  "",
  "| link | transport | seconds | vs plaintext | Gbit/s of volume | link MB | sender CPU s | receiver CPU s | identical |",
  "|---|---|---:|---:|---:|---:|---:|---:|---|",
  ...rows,
].join("\n");
console.log(table);
writeSection("transports", "Transports: plaintext, TLS, ssh (issue 5)", table);
