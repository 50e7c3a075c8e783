/** `blockferry bench` for people: what was measured, what it predicts, and why. */
import { formatBytes, formatRate } from "../units.js";
import { BOTH_READS, type Estimate } from "./model.js";
import type { BenchReport } from "./run.js";

const pct = (f: number) => `${(f * 100).toFixed(1)}%`;
const secs = (s: number) => (s < 10 ? s.toFixed(2) : s.toFixed(1));

/** Two columns, the first padded to its widest cell. */
function table(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`);
}

export function formatReport(r: BenchReport): string {
  const m = r.measured;
  const s = r.settings;
  const what = r.volume.generated
    ? `a temporary file of ${formatBytes(r.volume.size)} of random bytes (no VOLUME given)`
    : `${r.volume.path} (${formatBytes(r.volume.size)} ${r.volume.isBlockDevice ? "block device" : "image file"})`;
  const lines = [`blockferry bench: ${what}, ${formatBytes(s.blockSize)} blocks`, "", "measured on this host:"];
  const rows: Array<[string, string]> = [
    [
      "read, O_DIRECT (as sync)",
      `${formatRate(m.readDirect.bytesPerSecond)}  (${formatBytes(m.readDirect.bytes)} in ${secs(m.readDirect.seconds)} s${m.readDirect.direct ? "" : ", O_DIRECT refused"})`,
    ],
    [
      "read, buffered",
      `${formatRate(m.readBuffered.bytesPerSecond)}  (${formatBytes(m.readBuffered.bytes)} in ${secs(m.readBuffered.seconds)} s)`,
    ],
    ["digests (XXH3-128)", `${formatRate(m.digest.bytesPerSecondPerCore)} per core, ${m.digest.cores} cores`],
    [
      "lz4",
      `${formatRate(m.lz4.bytesPerSecondPerCore)} per core, ratio ${m.lz4.ratio.toFixed(2)}:1` +
        (m.lz4.sampleBytes > 0 ? ` on ${formatBytes(m.lz4.sampleBytes)} of the sample` : " (no data in the sample)"),
    ],
    [
      "holes, zero blocks",
      `${pct(m.zero.holeFraction)} of the volume in holes, ${pct(m.zero.zeroFractionOfData)} of the data in zero blocks` +
        ` (${formatBytes(m.zero.nonZeroBytes)} to send)`,
    ],
  ];
  lines.push(...table(rows));
  const n = m.network;
  if (n !== null) {
    const transport = { tls: "TLS", plaintext: "plaintext TCP", ssh: "ssh" }[n.transport];
    lines.push("", `measured to ${n.destination} (${transport}, nothing written there):`);
    const net: Array<[string, string]> = [
      ["connect and handshake", `${secs(n.connectSeconds + n.handshakeSeconds)} s`],
      ["round trip", `${(n.rttSeconds * 1000).toFixed(2)} ms (median of ${n.rttSamples.length})`],
      [
        "goodput",
        `${formatRate(n.goodput.bytesPerSecond)}  (${formatBytes(n.goodput.bytes)} in ${secs(n.goodput.seconds)} s)`,
      ],
    ];
    if (n.targetRead !== undefined) {
      const t = n.targetRead;
      net.push(["target reads", `${formatRate(t.alone.bytesPerSecond)} alone`]);
      net.push([
        "both, in step (a delta)",
        `target ${formatRate(t.inStep.target.bytesPerSecond)}, this host ${formatRate(t.inStep.source.bytesPerSecond)}: ` +
          `whole volumes in ${secs(t.inStep.wholeSeconds)} s`,
      ]);
      net.push(["target holds", `${formatBytes(t.dataBytes)} of data`]);
    }
    lines.push(...table(net));
  }
  const p = r.prediction;
  const setting = `${formatBytes(s.blockSize)} blocks, ${s.compress === "lz4" ? "--compress lz4" : "no compression"}`;
  const change = `${+(s.change * 100).toPrecision(3)}%`;
  lines.push("", `predicted for ${formatBytes(s.predictedSize)} (${setting}):`);
  lines.push(
    ...table([
      ["full copy", estimate(p.fullCopy)],
      [`delta, ${change} changed`, estimate(p.delta)],
      [`delta, ${change}, digest cache`, estimate(p.deltaCached)],
      [`delta, ${change}, change-tracked (thin LV)`, estimate(p.deltaTracked)],
    ]),
  );
  lines.push("", "stages, seconds (they overlap: the slowest sets the pace):");
  lines.push(...stages([p.fullCopy, p.delta, p.deltaCached, p.deltaTracked]));
  lines.push("", "advice:", ...p.advice.map((a) => `  - ${a}`));
  lines.push("", "assumed:", ...p.assumptions.map((a) => `  - ${a}`));
  if (r.timeLimitReached) lines.push("", `(the measurement stopped at the --seconds ${s.seconds} limit)`);
  return lines.join("\n");
}

function estimate(e: Estimate): string {
  const slowest = e.stages.find((s) => s.name === e.bottleneck);
  const rate =
    slowest && slowest.seconds > 0 && slowest.name !== BOTH_READS
      ? ` at ${formatRate(slowest.bytes / slowest.seconds)}`
      : "";
  return `${secs(e.seconds).padStart(7)} s   bound by ${e.bottleneck}${rate}; ${formatBytes(e.wireBytes)} on the wire`;
}

/** One row per stage, one column per estimate ("-" where a stage does not run). */
function stages(estimates: Estimate[]): string[] {
  const names = [...new Set(estimates.flatMap((e) => e.stages.map((s) => s.name)))];
  const rows: Array<[string, string]> = [
    ["", ["full copy", "delta", "cached", "tracked"].map((h) => h.padStart(10)).join("")],
  ];
  for (const name of names) {
    const cells = estimates.map((e) => {
      const st = e.stages.find((s) => s.name === name);
      return (st === undefined ? "-" : secs(st.seconds)).padStart(10);
    });
    rows.push([name, cells.join("")]);
  }
  rows.push(["+ setup and pipeline fill", estimates.map((e) => secs(e.setupSeconds).padStart(10)).join("")]);
  return table(rows);
}
