/** `status --prometheus`: the receiving host's view of its targets, as gauges labelled by target. */
import type { HistoryEntry } from "../job/history.js";
import type { TargetStatus } from "../job/status.js";
import { exitCodeFor } from "./exit-codes.js";
import { type Gauge, INFO_GAUGE } from "./metrics.js";
import { judge, usableAge } from "./status-judge.js";

type Row = { status: TargetStatus; history: HistoryEntry[] };
type Value = (r: Row) => number | undefined;

const at = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso) / 1000);
const bool = (b: boolean) => (b ? 1 : 0);

/** The gauges; `maxAgeMs` as --max-age gives (the status code then says stale). */
export function statusGauges(rows: Row[], maxAgeMs: number | undefined): Gauge[] {
  const defs: Array<[string, string, Value]> = [
    [
      "blockferry_target_last_success_timestamp_seconds",
      "When the last completed sync ended (Unix time).",
      (r) => at(r.status.lastSync?.at),
    ],
    [
      "blockferry_target_usable_age_seconds",
      "Age of the copy one could fail over to (the volume's or the kept good one).",
      (r) => usableAge(r.status),
    ],
    [
      "blockferry_target_last_sync_duration_seconds",
      "How long the last completed sync took.",
      (r) => r.status.lastSync?.seconds,
    ],
    [
      "blockferry_target_last_sync_received_bytes",
      "Bytes the last completed sync received.",
      (r) => r.status.lastSync?.bytesIn,
    ],
    [
      "blockferry_target_last_sync_sent_bytes",
      "Bytes the last completed sync sent back to the source.",
      (r) => r.status.lastSync?.bytesOut,
    ],
    [
      "blockferry_target_last_sync_read_bytes",
      "Bytes of the copy the last sync served read (--verify, a compare).",
      (r) => r.history.filter((h) => h.ok).at(-1)?.bytesRead,
    ],
    ["blockferry_target_complete", "1 if the copy is complete and verified.", (r) => bool(r.status.complete)],
    [
      "blockferry_target_promoted",
      "1 if the copy was promoted to serve as the primary.",
      (r) => bool(r.status.promotedAt !== undefined),
    ],
    ["blockferry_target_generation", "The copy's generation (completed syncs).", (r) => r.status.generation],
    [
      "blockferry_target_last_served_ok",
      "1 if the last sync this receiver served into the target succeeded (history).",
      (r) => {
        const l = r.history.at(-1);
        return l === undefined ? undefined : bool(l.ok);
      },
    ],
    [
      "blockferry_target_status_code",
      "What `blockferry status` exits with for this target (0 usable, 18 incomplete, 19 stale).",
      (r) => {
        const p = judge(r.status, maxAgeMs);
        return p === undefined ? 0 : exitCodeFor(p.code);
      },
    ],
  ];
  return [
    INFO_GAUGE,
    ...defs.map(([name, help, value]) => ({
      name,
      help,
      samples: rows.flatMap((r) => {
        const v = value(r);
        return v === undefined ? [] : [{ labels: { target: r.status.target }, value: v }];
      }),
    })),
  ];
}
