/**
 * What bench/suite.ts writes: its section of bench/RESULTS.md (command,
 * date, machine, notes, table) and the data of bench/chart.svg. Each row is
 * the run of median time among its rounds, with that run's bytes and CPU.
 */
import { middle, type Run } from "./run.js";
import { barChart } from "./svg-chart.js";

export interface Scenario {
  name: string;
  /** The tool the others' times are divided by. */
  baseline: string;
  /** Bytes of the volume brought up to date. */
  volume: number;
}

export type Outcome = Run & { identical: boolean | undefined };

export interface Result {
  scenario: Scenario;
  tool: string;
  runs: Outcome[];
  /** Why a run failed; the row then shows no figures. */
  error?: string;
}

/** The physical limit of gigabit Ethernet for TCP payload (1448 bytes per 1538 of wire time). */
export const GIGABIT_GOODPUT = 117.6e6;

export function median(r: Result): Outcome | undefined {
  return middle(r.runs, (o) => o.seconds);
}

const mbps = (r: Result) => {
  const m = median(r);
  return m === undefined || r.error !== undefined ? Number.NaN : r.scenario.volume / m.seconds / 1e6;
};

export function table(results: Result[]): string[] {
  const lines = [
    "| scenario | tool | seconds | MB/s of volume | time vs baseline | link MB → | link MB ← | sender CPU s | receiver CPU s | identical |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of results) {
    const cells = [r.scenario.name, r.tool.replaceAll("|", "\\|")];
    const m = median(r);
    if (m === undefined || r.error !== undefined) {
      const why = (r.error ?? "no run").replace(/\s+/g, " ").slice(0, 120).replaceAll("|", "\\|");
      lines.push(`| ${[...cells, `failed: ${why}`, ...Array(7).fill("")].join(" | ")} |`);
      continue;
    }
    const base = results.find((b) => b.scenario === r.scenario && b.tool === r.scenario.baseline);
    const baseRun = base && base.error === undefined ? median(base) : undefined;
    const identical = r.runs.every((x) => x.identical === true) ? "yes" : "NO";
    cells.push(
      m.seconds.toFixed(1),
      mbps(r).toFixed(0),
      baseRun === undefined ? "" : (m.seconds / baseRun.seconds).toFixed(2),
      (m.tx / 1e6).toFixed(1),
      (m.rx / 1e6).toFixed(1),
      m.sender.cpuSeconds.toFixed(1),
      m.receiver.cpuSeconds.toFixed(1),
      identical,
    );
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines;
}

/** Throughput per tool, grouped per scenario, in the order the suite ran them. */
export function chart(results: Result[], date: string, machine: string, detail: string): string {
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  return barChart({
    title: "blockferry and the usual tools over an emulated 1 Gbit link",
    subtitle: [
      `Measured ${date} on ${machine}. ${detail}`,
      "MB/s of volume = the volume's bytes / wall seconds to bring it up to date (higher is better). " +
        "Dashed: gigabit TCP goodput, the most a tool that sends every byte can reach.",
    ],
    axis: "MB/s of volume",
    groups: scenarios.map((s) => ({
      label: s.name,
      bars: results.filter((r) => r.scenario === s).map((r) => ({ series: r.tool, value: mbps(r) })),
    })),
    references: [{ value: GIGABIT_GOODPUT / 1e6, label: `gigabit TCP goodput, ${GIGABIT_GOODPUT / 1e6} MB/s` }],
  });
}
