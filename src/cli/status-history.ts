/** `status --history` for people: one line per sync, oldest first. */
import type { HistoryEntry } from "../job/history.js";
import { printable } from "../printable.js";
import { formatBytes } from "../units.js";

export function describeHistory(path: string, entries: HistoryEntry[], source: boolean): string {
  if (entries.length === 0) return `${printable(path)}: no syncs recorded\n`;
  const lines = entries.map((e) => {
    const who = source
      ? `${e.job === undefined ? "" : `[${e.job}] `}${e.source ?? "?"} -> ${e.destination}`
      : `${e.destination} from ${e.peer ?? "?"}`;
    const bytes = source
      ? `read ${formatBytes(e.bytesRead)}, sent ${formatBytes(e.bytesSent ?? 0)}`
      : `received ${formatBytes(e.bytesReceived ?? 0)}, read ${formatBytes(e.bytesRead)}`;
    const result = e.ok
      ? `ok${e.mode === undefined ? "" : ` (${e.mode})`}`
      : `FAILED ${e.code ?? ""}${e.exitCode === undefined ? "" : ` (exit ${e.exitCode})`}: ${e.message ?? ""}`;
    return `${e.at}  ${who}  ${e.seconds.toFixed(1)} s, ${bytes}  ${result}`;
  });
  return `${lines.map(printable).join("\n")}\n`;
}
