/**
 * A history of syncs, one JSON object a line, appended beside the state: on
 * the source (in its cache directory) for every sync and job it runs, on the
 * receiver (beside each target's state file) for every sync it serves.
 * Bounded: once it holds more than HISTORY_KEEP entries and a tenth, it is
 * rewritten with the last HISTORY_KEEP (written beside, then renamed).
 */
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fromFsError } from "../errors.js";
import { quoted } from "../printable.js";
import { replaceFile } from "../replace-file.js";

export const HISTORY_KEEP = 1000;

export interface HistoryEntry {
  at: string;
  /** The source's destination, or the receiver's target name. */
  destination: string;
  source?: string | undefined;
  /** The job's name under `run`. */
  job?: string | undefined;
  /** The receiver's side: the peer's address. */
  peer?: string | undefined;
  ok: boolean;
  /** The source's exit code for the sync (the receiver, a server, has none: `code` says why one failed). */
  exitCode?: number | undefined;
  code?: string | undefined;
  message?: string | undefined;
  mode?: string | undefined;
  seconds: number;
  /** Bytes read of the volume: the source's, or on the receiver its copy's (--verify, a compare). */
  bytesRead: number;
  /** The source: bytes it sent on the wire. */
  bytesSent?: number | undefined;
  /** The receiver: bytes it received. */
  bytesReceived?: number | undefined;
  blocksChanged?: number | undefined;
}

/** The source's history: in its cache directory. */
export function sourceHistoryPath(cacheDir: string): string {
  return join(cacheDir, "history.jsonl");
}

/** A target's history, beside its state file ("x.blockferry-state.json" → "x.blockferry-history.jsonl"). */
export function targetHistoryPath(stateFile: string): string {
  return stateFile.replace(/([.-])state\.json$/, "$1history.jsonl");
}

/** Appends `entry`; trims the file to the last `keep` entries once it holds a tenth more. */
export async function appendHistory(path: string, entry: HistoryEntry, keep = HISTORY_KEEP): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await appendFile(path, `${JSON.stringify(entry)}\n`, { mode: 0o644 });
  const lines = (await readFile(path, "utf8")).split("\n").filter((l) => l !== "");
  if (lines.length <= keep + Math.ceil(keep / 10)) return;
  await replaceFile(path, `${lines.slice(-keep).join("\n")}\n`, 0o644);
}

/** The last `limit` entries (oldest first); lines that are not entries are skipped; none if there is no file. */
export async function readHistory(path: string, limit = HISTORY_KEEP): Promise<HistoryEntry[]> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return "";
    throw fromFsError(e, `history ${quoted(path)}`);
  });
  const entries: HistoryEntry[] = [];
  for (const line of text.split("\n")) {
    try {
      const e = JSON.parse(line) as HistoryEntry;
      if (typeof e === "object" && e !== null && typeof e.at === "string" && typeof e.ok === "boolean") entries.push(e);
    } catch {
      // a torn last line (the host died mid-append) or not ours: skipped
    }
  }
  return entries.slice(-limit);
}
