/** Whether a target's copy can be relied on: the one judgement `status`, `--nagios` and `--prometheus` share. */
import { BlockferryError } from "../errors.js";
import type { TargetStatus } from "../job/status.js";
import { formatAge } from "../units.js";

/**
 * Why no usable standby is here, if none is: the copy itself must be
 * complete, verified and unwritten since, or a good copy kept while a later
 * sync writes it (`blockferry promote` restores it), or the copy promoted.
 */
export function judge(s: TargetStatus, maxAgeMs: number | undefined): BlockferryError | undefined {
  if (s.promotedAt !== undefined) return undefined; // the primary now: a sync into it is refused
  const main = mainProblem(s);
  if (main !== undefined && !keptCopyServes(s)) {
    const lost =
      s.good?.lost !== undefined && !s.complete
        ? `; the kept good copy ${s.good.where} is LOST: ${s.good.lost}`
        : s.lostGood === undefined
          ? ""
          : `; the kept good copy was lost at ${s.lostGood.at}: ${s.lostGood.why}`;
    return new BlockferryError("E_INCOMPLETE", `${s.target}: ${main}${lost}`);
  }
  const usable = usableAge(s);
  if (maxAgeMs !== undefined && (usable ?? Number.POSITIVE_INFINITY) * 1000 > maxAgeMs) {
    return new BlockferryError(
      "E_STALE",
      `${s.target}: the last completed sync is ${formatAge(usable ?? 0)} old, more than --max-age ${formatAge(maxAgeMs / 1000)}`,
    );
  }
  return undefined;
}

/**
 * A kept good copy stands in for the volume only while the volume holds an
 * unfinished sync: that is when `blockferry promote` restores it. After a
 * completed sync it is an older generation awaiting removal.
 */
export function keptCopyServes(s: TargetStatus): boolean {
  return !s.complete && s.good !== undefined && s.good.lost === undefined;
}

/** Seconds since the usable copy (the volume's, or the kept good one's) was synced; undefined: never. */
export function usableAge(s: TargetStatus): number | undefined {
  if (mainProblem(s) === undefined) return s.ageSeconds;
  return keptCopyServes(s) ? ageOf(s.good?.lastSync) : undefined;
}

/** Why the copy itself (not a kept one) cannot be relied on. */
export function mainProblem(s: TargetStatus): string | undefined {
  if (!s.complete) {
    const why =
      s.runningPid !== undefined
        ? `a sync is running now (receiver pid ${s.runningPid})`
        : s.lastSync === undefined
          ? "the first copy has not completed"
          : "a sync started and did not complete";
    return `incomplete: ${why}; do not fail over to it`;
  }
  if (s.writtenSince === "unrecorded") {
    return "its state records no change stamp, so nothing shows the volume is still the copy that was verified; sync it again";
  }
  if (s.writtenSince === "yes" && s.good !== undefined) {
    return `its change stamp moved since the last sync, which still names the kept copy ${s.good.where} (written since, or the receiver stopped while removing it): the next sync reads it to check; do not fail over to it until then`;
  }
  if (s.writtenSince === "yes") {
    return "written since the last sync (mounted read-write, or changed outside blockferry): no longer the verified copy";
  }
  return undefined;
}

export function ageOf(sync: TargetStatus["lastSync"]): number | undefined {
  return sync === undefined ? undefined : (Date.now() - Date.parse(sync.at)) / 1000;
}
