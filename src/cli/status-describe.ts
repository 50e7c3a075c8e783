/** `blockferry status` for people: a headline and what the state records. */
import type { SyncMode } from "../engine/state.js";
import type { TargetStatus } from "../job/status.js";
import { printable } from "../printable.js";
import { formatAge, formatBytes } from "../units.js";

const HOW: Record<SyncMode, string> = {
  copy: "full copy",
  compare: "delta",
  cached: "delta (digest cache)",
  tracked: "delta (change tracking: thin_delta, digest cache)",
};

export function describeStatus(s: TargetStatus): string {
  const lines = [
    `${s.target}: ${headline(s)}, generation ${s.generation}${s.stateFile ? ` (state ${s.stateFile})` : ""}`,
  ];
  if (s.promotedAt !== undefined) {
    lines.push(
      `  promoted at ${s.promotedAt}: it serves as the primary; syncs into it are refused (exit 22) unless --force`,
    );
  }
  const l = s.lastSync;
  if (l !== undefined) {
    const how = HOW[l.tracked ? "tracked" : l.mode];
    lines.push(
      `  last completed sync: ${l.at} (${formatAge(s.ageSeconds ?? 0)} ago), generation ${l.generation}, from ${l.sourceId}`,
      `  ${how} in ${l.seconds.toFixed(1)} s, ${formatBytes(l.bytesIn)} received, ${formatBytes(l.bytesOut)} sent back, ` +
        (l.reread ? "re-read from disk and checked" : "checked against the source's fingerprint"),
    );
  }
  const g = s.good;
  if (g !== undefined) {
    const from = g.lastSync === undefined ? "" : `, synced ${g.lastSync.at} from ${g.lastSync.sourceId}`;
    lines.push(`  kept good copy: generation ${g.generation}${from}, ${g.method} at ${g.where}${keptState(s, g)}`);
  }
  if (s.lostGood !== undefined) lines.push(`  LOST a kept good copy at ${s.lostGood.at}: ${s.lostGood.why}`);
  for (const d of s.dirs)
    lines.push(`  directory ${d.path}: ${d.entries} entries, ${formatBytes(d.bytes)}, placed ${d.at}`);
  return `${lines.map(printable).join("\n")}\n`;
}

/** What the kept copy is to this volume: the good copy (promote), LOST, or a leftover of a completed sync. */
function keptState(s: TargetStatus, g: NonNullable<TargetStatus["good"]>): string {
  if (s.complete) {
    const lost = g.lost === undefined ? "" : ` (${g.lost})`;
    return `; an earlier generation, left when its removal did not finish: the next verified sync with --keep-good removes it${lost}`;
  }
  // Unfinished, and whole: what promote restores (status-judge.ts keptCopyServes).
  return g.lost === undefined
    ? "; this is the good copy: `blockferry promote` makes it the volume"
    : `, LOST: ${g.lost}`;
}

function headline(s: TargetStatus): string {
  if (s.promotedAt !== undefined) return "PROMOTED (the primary now)";
  if (!s.complete) return s.runningPid !== undefined ? "INCOMPLETE, a sync is running" : "INCOMPLETE";
  return s.writtenSince === "yes" ? "WRITTEN SINCE its last sync" : "complete and verified";
}
