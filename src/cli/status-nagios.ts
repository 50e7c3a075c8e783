/**
 * `status --nagios`: the plugin convention of Nagios, Icinga and their kin.
 * One line "BLOCKFERRY STATE - text | perfdata", exit 0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN. The thresholds (README, "Monitoring"):
 *   CRITICAL  no usable copy (never completed, interrupted with no kept good
 *             copy, written since its last sync, no change stamp), or the
 *             usable copy older than --max-age;
 *   WARNING   a sync running now with no kept good copy to fall back on, the
 *             copy promoted (no standby any more), a kept good copy serving
 *             while the volume is incomplete, a kept good copy lost, or the
 *             usable copy older than --warn-age;
 *   UNKNOWN   the status could not be taken (no volume, no record of a sync).
 */
import type { TargetStatus } from "../job/status.js";
import { printable } from "../printable.js";
import { formatAge } from "../units.js";
import { judge, mainProblem, usableAge } from "./status-judge.js";

export const NAGIOS = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
const NAMES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

export interface Thresholds {
  warnAgeMs: number | undefined;
  maxAgeMs: number | undefined;
}

/** The plugin's state and its one line of text (without perfdata). */
export function nagiosVerdict(s: TargetStatus, t: Thresholds): { state: number; text: string } {
  const age = usableAge(s);
  const main = mainProblem(s);
  const problem = judge(s, t.maxAgeMs);
  if (problem !== undefined) {
    // A sync under way is the nightly job, not a loss: it warns until it ends (or --max-age passes).
    const running =
      problem.code === "E_INCOMPLETE" &&
      s.runningPid !== undefined &&
      s.lostGood === undefined &&
      s.good?.lost === undefined;
    return { state: running ? NAGIOS.warning : NAGIOS.critical, text: problem.message };
  }
  if (s.promotedAt !== undefined) return { state: NAGIOS.warning, text: `${s.target}: promoted at ${s.promotedAt}` };
  const ago = age === undefined ? "" : `, synced ${formatAge(age)} ago`;
  if (main !== undefined)
    return { state: NAGIOS.warning, text: `${s.target}: ${main}; the kept good copy serves${ago}` };
  if (s.lostGood !== undefined)
    return { state: NAGIOS.warning, text: `${s.target}: a kept good copy was lost at ${s.lostGood.at}${ago}` };
  if (t.warnAgeMs !== undefined && (age ?? 0) * 1000 > t.warnAgeMs)
    return {
      state: NAGIOS.warning,
      text: `${s.target}: last completed sync ${formatAge(age ?? 0)} ago, more than --warn-age ${formatAge(t.warnAgeMs / 1000)}`,
    };
  return { state: NAGIOS.ok, text: `${s.target}: complete and verified${ago}` };
}

/** The whole line: state, text, and perfdata (age in s with the thresholds, the last sync's bytes and duration). */
export function nagiosLine(s: TargetStatus, t: Thresholds): { state: number; line: string } {
  const { state, text } = nagiosVerdict(s, t);
  const limit = (ms: number | undefined) => (ms === undefined ? "" : String(Math.round(ms / 1000)));
  const age = usableAge(s);
  const perf = [
    age === undefined ? undefined : `age=${Math.round(age)}s;${limit(t.warnAgeMs)};${limit(t.maxAgeMs)};0`,
    s.lastSync === undefined ? undefined : `bytes=${s.lastSync.bytesIn}B;;;0`,
    s.lastSync === undefined ? undefined : `duration=${s.lastSync.seconds.toFixed(1)}s;;;0`,
  ].filter((p) => p !== undefined);
  return { state, line: nagiosText(state, text, perf.join(" ")) };
}

/** "BLOCKFERRY STATE - text | perf": the text on one line, with no "|" (which starts perfdata). */
export function nagiosText(state: number, text: string, perf = ""): string {
  const one = text.replace(/[\r\n]+/g, " ").replace(/\|/g, "/");
  return `BLOCKFERRY ${NAMES[state]} - ${printable(one)}${perf === "" ? "" : ` | ${perf}`}`;
}
