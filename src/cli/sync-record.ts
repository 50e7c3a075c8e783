/**
 * What a sync leaves for monitoring on the source: an entry in the history
 * (src/job/history.ts), and the Prometheus textfile of the syncs and jobs of
 * one command (`--metrics-file`), with the last success taken from the history
 * so that a failed night still reports when the last good one was.
 */
import type { TransferStats } from "../engine/stats.js";
import { BlockferryError } from "../errors.js";
import { appendHistory, type HistoryEntry, readHistory, sourceHistoryPath } from "../job/history.js";
import { exitCodeFor } from "./exit-codes.js";
import { type Gauge, INFO_GAUGE, prometheusText, type Sample, writeMetricsFile } from "./metrics.js";
import type { SyncSummary } from "./summary.js";

/** The history entry of a sync that ended with `summary`, or failed with `error`. */
export function syncEntry(
  what: { source: string; destination: string; job?: string | undefined },
  stats: TransferStats,
  result: { summary: SyncSummary } | { error: unknown },
): HistoryEntry {
  const error = "error" in result ? result.error : undefined;
  const code = error === undefined ? undefined : error instanceof BlockferryError ? error.code : "E_INTERNAL";
  return {
    at: new Date().toISOString(),
    ...what,
    ok: error === undefined,
    exitCode: code === undefined ? 0 : exitCodeFor(code),
    code,
    message: error instanceof Error ? error.message : undefined,
    mode: "summary" in result ? result.summary.mode : undefined,
    seconds: stats.elapsedSeconds(),
    bytesRead: stats.readBytes,
    bytesSent: stats.wireBytes,
    blocksChanged: stats.changedBlocks,
  };
}

/** Appends `entry` to the source's history; a history that cannot be written is a warning, never a failed sync. */
export async function recordSync(cacheDir: string, entry: HistoryEntry, log: (line: string) => void): Promise<void> {
  await appendHistory(sourceHistoryPath(cacheDir), entry).catch((e: unknown) => {
    log(`warning: the history of syncs was not written: ${e instanceof Error ? e.message : String(e)}`);
  });
}

const GAUGES: Array<[string, string, (e: HistoryEntry) => number]> = [
  [
    "blockferry_sync_last_run_timestamp_seconds",
    "When the last sync ended (Unix time).",
    (e) => Date.parse(e.at) / 1000,
  ],
  ["blockferry_sync_ok", "1 if the last sync succeeded, else 0.", (e) => (e.ok ? 1 : 0)],
  ["blockferry_sync_exit_code", "The last sync's result: its exit code (0 success).", (e) => e.exitCode ?? 0],
  ["blockferry_sync_duration_seconds", "How long the last sync took.", (e) => e.seconds],
  ["blockferry_sync_read_bytes", "Bytes the last sync read of the source volume.", (e) => e.bytesRead],
  ["blockferry_sync_sent_bytes", "Bytes the last sync sent on the wire.", (e) => e.bytesSent ?? 0],
  ["blockferry_sync_changed_blocks", "Blocks the last sync found changed and sent.", (e) => e.blocksChanged ?? 0],
];

/** The gauges of these syncs (one per job or destination); the last success of each from `history`. */
export function syncGauges(entries: HistoryEntry[], history: HistoryEntry[]): Gauge[] {
  const labels = (e: HistoryEntry) => ({ job: e.job ?? "", destination: e.destination });
  const same = (a: HistoryEntry, b: HistoryEntry) => a.destination === b.destination && a.job === b.job;
  const success: Sample[] = [];
  for (const e of entries) {
    const last = e.ok ? e : history.filter((h) => h.ok && same(h, e)).at(-1);
    if (last !== undefined) success.push({ labels: labels(e), value: Date.parse(last.at) / 1000 });
  }
  return [
    INFO_GAUGE,
    {
      name: "blockferry_sync_last_success_timestamp_seconds",
      help: "When the last successful sync ended (Unix time).",
      samples: success,
    },
    ...GAUGES.map(([name, help, value]) => ({
      name,
      help,
      samples: entries.map((e) => ({ labels: labels(e), value: value(e) })),
    })),
  ];
}

/** Writes the metrics of `entries` to `path` (temporary file, renamed). */
export async function writeSyncMetrics(path: string, entries: HistoryEntry[], cacheDir: string): Promise<void> {
  const history = await readHistory(sourceHistoryPath(cacheDir)).catch(() => []);
  await writeMetricsFile(path, prometheusText(syncGauges(entries, history)));
}
