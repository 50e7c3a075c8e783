/**
 * Prometheus text format for node_exporter's textfile collector: gauges with
 * HELP and TYPE, label values escaped (backslash, double quote, newline), the
 * file written beside its final name and renamed over it, so the collector
 * never reads half of one.
 */

import { basename, dirname, join } from "node:path";
import { version } from "../build-info.js";
import { fromFsError } from "../errors.js";
import { quoted } from "../printable.js";
import { replaceFile } from "../replace-file.js";

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Gauge {
  name: string;
  help: string;
  samples: Sample[];
}

/** A label value as the text format writes it inside double quotes. */
/** Which blockferry wrote the file: in every metrics file, the sync's and the receiver's. */
export const INFO_GAUGE: Gauge = {
  name: "blockferry_info",
  help: "blockferry's version.",
  samples: [{ labels: { version }, value: 1 }],
};

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function sampleLine(name: string, s: Sample): string {
  const labels = Object.entries(s.labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(",");
  const value = Number.isFinite(s.value) ? String(s.value) : "NaN";
  return `${name}${labels === "" ? "" : `{${labels}}`} ${value}`;
}

/** The gauges as one exposition; a gauge with no sample is left out. */
export function prometheusText(gauges: Gauge[]): string {
  const lines: string[] = [];
  for (const g of gauges) {
    if (g.samples.length === 0) continue;
    lines.push(`# HELP ${g.name} ${g.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${g.name} gauge`);
    for (const s of g.samples) lines.push(sampleLine(g.name, s));
  }
  return `${lines.join("\n")}\n`;
}

/** Writes `text` to `path` as node_exporter expects: a temporary file in the same directory (not *.prom), renamed. */
export async function writeMetricsFile(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await replaceFile(path, text, 0o644, temp).catch((e: unknown) => {
    throw fromFsError(e, `--metrics-file ${quoted(path)}`);
  });
}
