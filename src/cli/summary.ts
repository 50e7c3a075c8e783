/** The end-of-sync report: JSON for monitoring, one line for people. */
import type { TransferStats } from "../engine/stats.js";
import type { NightlyOutcome } from "../job/nightly.js";
import { syncFacts } from "../job/sync.js";
import { formatBytes, formatDuration, formatRate } from "../units.js";

export type SyncSummary = ReturnType<typeof summarize>;

export function summarize(
  source: string,
  destination: string,
  outcome: NightlyOutcome,
  stats: TransferStats,
  dryRun: boolean,
  blockSize: number,
  /** --verify (or --paranoid) was in effect: the target re-read its whole copy before confirming it. */
  verify: boolean,
) {
  const seconds = stats.elapsedSeconds();
  const facts = syncFacts(outcome);
  return {
    ok: true,
    source,
    destination,
    /** The LVM snapshot read (and removed again, unless kept), or null. */
    snapshot: outcome.snapshot ?? null,
    /** Where that (thin) snapshot was kept as the base of the next night's change tracking, or null. */
    keptSnapshot: outcome.keptAs ?? null,
    /** "delta": the target held a copy and only changed blocks were sent; "copy": everything was. */
    mode: facts.compared ? "delta" : "copy",
    /** Where the target's digests came from in a delta: the source's cache, or the target reading its volume. */
    digestsFrom: facts.cached ? "cache" : facts.compared ? "target" : "none",
    /** What found the changed blocks: thin_delta (only those read), the cache or the target's digests (all read). */
    changesFoundBy: stats.changesFromThinDelta
      ? "thin_delta"
      : facts.cached
        ? "cache"
        : facts.compared
          ? "target digests"
          : "none",
    /** Seconds thin_delta's diff took (0 without change tracking). */
    diffSeconds: stats.diffSeconds,
    blockSize,
    blocks: { compared: stats.comparedBlocks, changed: stats.changedBlocks },
    bytes: {
      total: stats.totalBytes,
      resumedFrom: stats.resumedFromBytes,
      read: stats.readBytes,
      zero: stats.zeroBytes,
      raw: stats.rawBytes,
      compressedIn: stats.compressedInBytes,
      compressedOut: stats.compressedOutBytes,
      wire: stats.wireBytes,
      same: stats.sameBytes,
      digests: stats.digestBytes,
      targetRead: stats.targetReadBytes,
    },
    seconds,
    /** Bytes of the volume handled per second. */
    throughput: (stats.totalBytes - stats.resumedFromBytes) / Math.max(seconds, 1e-3),
    /** Where the time went; the stages overlap, so they add up to more than `seconds`. */
    stageSeconds: {
      reading: stats.readSeconds,
      hashing: stats.hashSeconds,
      waiting: stats.waitSeconds,
      targetWriting: stats.targetWriteSeconds,
    },
    /** --with-dir: the directories placed on the receiving host. */
    dirs: facts.dirs,
    dryRun,
    fingerprint: facts.fingerprint,
    verified: !dryRun,
    /** The target re-read its whole copy from disk to verify it (--verify, --paranoid). */
    reread: verify && !dryRun,
  };
}

export function describeSummary(s: SyncSummary): string {
  if (s.dryRun) {
    return (
      `dry run, nothing written: ${s.blocks.changed} of ${s.blocks.compared} blocks would be sent ` +
      `(${formatBytes(s.bytes.raw)} of data, ${formatBytes(s.bytes.zero)} as zeros)` +
      (s.mode === "delta" ? `; digests ${formatBytes(s.bytes.digests)}` : "; the target holds no copy")
    );
  }
  const resumed = s.bytes.resumedFrom > 0 ? `, resumed at ${formatBytes(s.bytes.resumedFrom)}` : "";
  const delta =
    s.mode === "delta"
      ? `; delta: ${s.blocks.changed} of ${s.blocks.compared} blocks changed, ${s.digestsFrom === "cache" ? "digests from the cache" : `digests ${formatBytes(s.bytes.digests)}`}, target read ${formatBytes(s.bytes.targetRead)}`
      : "";
  const t = s.stageSeconds;
  const dirs = s.dirs.map((d) => `; ${d.dest}: ${d.entries} entries, ${formatBytes(d.bytes)}`).join("");
  const kept = s.keptSnapshot === null ? "removed" : `kept as ${s.keptSnapshot}`;
  const snapshot = s.snapshot === null ? "" : ` from snapshot ${s.snapshot} (${kept})`;
  const found =
    s.changesFoundBy === "thin_delta" ? `; changes found by thin_delta in ${s.diffSeconds.toFixed(1)} s` : "";
  return (
    `${s.mode === "delta" ? "synced" : "copied"} ${formatBytes(s.bytes.total)}${snapshot} in ${formatDuration(s.seconds)} (${formatRate(s.throughput)})${resumed}: ` +
    `read ${formatBytes(s.bytes.read)}, sent ${formatBytes(s.bytes.wire)}, zero ${formatBytes(s.bytes.zero)}${delta}${found}; ` +
    `seconds reading ${t.reading.toFixed(1)}, hashing ${t.hashing.toFixed(1)}, waiting ${t.waiting.toFixed(1)}, target writing ${t.targetWriting.toFixed(1)}; ` +
    `${verifiedHow(s)}, fingerprint ${s.fingerprint}${dirs}`
  );
}

/** How the copy was checked: re-read by the target (--verify), or against its record from the cache. */
function verifiedHow(s: SyncSummary): string {
  if (s.reread) return "verified, the target re-reading its copy";
  if (s.digestsFrom !== "cache") return "verified";
  const read = s.bytes.targetRead === 0 ? "nothing" : "only the changed blocks";
  return `verified against the target's record (it read ${read})`;
}
