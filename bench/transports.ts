/**
 * Transports (issue 5): a full copy of a random image over the emulated
 * gigabit link and over the same veth pair unthrottled, in one run, by
 * `dd | nc`, blockferry with --insecure-plaintext, blockferry over its
 * default mutual TLS, and blockferry over ssh (a real OpenSSH server in the
 * receiving namespace, ssh's default cipher). Caches dropped and a fresh target before every copy;
 * `cmp` after. Writes its table into bench/RESULTS.md.
 *   npm run build && sudo npx tsx bench/transports.ts [--gib 4] [--rounds 1]
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLink, type Link } from "../test/helpers/netns.js";
import { type Sshd, startSshd } from "../test/helpers/sshd.js";
import { machine } from "./lib/host.js";
import { image } from "./lib/images.js";
import { out } from "./lib/paths.js";
import { writeSection } from "./lib/results.js";
import { freshCopy, median, type Starter } from "./lib/run.js";
import { blockferryTool, ddNcTool, plaintext, sshTool } from "./lib/tools.js";

const { values } = parseArgs({
  options: { gib: { type: "string", default: "4" }, rounds: { type: "string", default: "1" } },
});
const bytes = Number(values.gib) * 2 ** 30;
const rounds = Number(values.rounds);
const source = image(out, "random", bytes);
const target = join(out, "transport-target.img");
const tools = ["dd | nc", "blockferry --insecure-plaintext", "blockferry (TLS)", "blockferry over ssh"] as const;

async function copy(link: Link, tool: (typeof tools)[number], sshd: Sshd) {
  let start: Starter;
  if (tool === "dd | nc") start = ddNcTool(link, source, target);
  else if (tool === "blockferry over ssh") start = sshTool(link, sshd, source, target);
  else {
    const extra = tool.includes("plaintext") ? plaintext : [];
    start = blockferryTool(link, source, target, { receive: extra, sync: ["--quiet", ...extra] });
  }
  const r = await freshCopy(link, tool, source, target, start);
  console.error(`${tool}: ${r.seconds.toFixed(1)} s, sender CPU ${r.sender.cpuSeconds.toFixed(1)} s`);
  return {
    seconds: r.seconds,
    linkMB: r.tx / 1e6,
    senderCpu: r.sender.cpuSeconds,
    receiverCpu: r.receiver.cpuSeconds,
    identical: r.identical === true,
  };
}

const rows: string[] = [];
for (const rate of ["1gbit", "none"]) {
  const link = createLink({ rate });
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
