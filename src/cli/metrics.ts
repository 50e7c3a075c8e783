/**
 * Prometheus text format for node_exporter's textfile collector: gauges with
 * HELP and TYPE, label values escaped (backslash, double quote, newline), the
 * file written beside its final name and renamed over it, so the collector
 * never reads half of one.
 */
import { rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fromFsError } from "../errors.js";
import { quoted } from "../printable.js";

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
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await rename(temp, path);
  } catch (e) {
    throw fromFsError(e, `--metrics-file ${quoted(path)}`);
  } finally {
    await rm(temp, { force: true });
  }
}
