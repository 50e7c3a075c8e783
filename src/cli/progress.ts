/**
 * Progress on stderr: a bar on a terminal, otherwise a status line every
 * BLOCKFERRY_STATUS_SECONDS (default 10); nothing with --quiet. SIGUSR1 prints
 * a status line at any time, as dd does.
 */
import type { TransferStats } from "../engine/stats.js";
import { printable } from "../printable.js";
import { formatBytes, formatDuration, formatRate } from "../units.js";

export type ProgressMode = "bar" | "lines" | "quiet";

export function statusLine(stats: TransferStats, label: string): string {
  const elapsed = Math.max(stats.elapsedSeconds(), 1e-3);
  const moved = stats.doneBytes - stats.resumedFromBytes;
  const rate = moved / elapsed;
  const left = stats.totalBytes - stats.doneBytes;
  const pct = stats.totalBytes > 0 ? (100 * stats.doneBytes) / stats.totalBytes : 100;
  const parts = [
    `${label}: ${pct.toFixed(1)}%`,
    `${formatBytes(stats.doneBytes)} of ${formatBytes(stats.totalBytes)}`,
    // The volume's pace and the wire's: they differ with zeros, deltas, lz4, and --bwlimit (which limits the wire).
    `read ${formatRate(rate)}`,
    `sent ${formatBytes(stats.wireBytes)}, wire ${formatRate(stats.wireBytes / elapsed)}`,
    `ETA ${formatDuration(rate > 0 ? left / rate : Number.POSITIVE_INFINITY)}`,
  ];
  if (stats.prefixCheckedBytes > 0 && stats.doneBytes === stats.resumedFromBytes) {
    parts.push(`checking copied part: ${formatBytes(stats.prefixCheckedBytes)}`);
  }
  return parts.join("  ");
}

function bar(stats: TransferStats, label: string, width: number): string {
  const line = statusLine(stats, label);
  const frac = stats.totalBytes > 0 ? stats.doneBytes / stats.totalBytes : 1;
  const size = Math.max(10, Math.min(30, width - line.length - 4));
  const filled = Math.round(frac * size);
  // \x1b[K clears what a longer previous line left behind.
  const text = `\r[${"#".repeat(filled)}${".".repeat(size - filled)}] ${line}`.slice(0, Math.max(width, 20));
  return `${text}\x1b[K`;
}

export class Progress {
  readonly #stats: TransferStats;
  readonly #label: string;
  readonly #mode: ProgressMode;
  #timer: NodeJS.Timeout | undefined;
  readonly #onSignal = () =>
    process.stderr.write(`${this.#mode === "bar" ? "\n" : ""}${statusLine(this.#stats, this.#label)}\n`);

  constructor(stats: TransferStats, label: string, mode: ProgressMode) {
    this.#stats = stats;
    this.#label = printable(label);
    this.#mode = mode;
  }

  start(): void {
    process.on("SIGUSR1", this.#onSignal);
    if (this.#mode === "bar") {
      this.#timer = setInterval(
        () => process.stderr.write(bar(this.#stats, this.#label, process.stderr.columns ?? 100)),
        250,
      );
    } else if (this.#mode === "lines") {
      const seconds = Number(process.env.BLOCKFERRY_STATUS_SECONDS ?? 10);
      this.#timer = setInterval(
        () => process.stderr.write(`${statusLine(this.#stats, this.#label)}\n`),
        seconds * 1000,
      );
    }
    this.#timer?.unref();
  }

  stop(): void {
    process.off("SIGUSR1", this.#onSignal);
    if (this.#timer) clearInterval(this.#timer);
    if (this.#mode === "bar") process.stderr.write(`${bar(this.#stats, this.#label, process.stderr.columns ?? 100)}\n`);
  }
}

export function progressMode(quiet: boolean): ProgressMode {
  if (quiet) return "quiet";
  return process.stderr.isTTY ? "bar" : "lines";
}
