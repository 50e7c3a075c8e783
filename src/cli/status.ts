import type { Command } from "commander";
import { BlockferryError } from "../errors.js";
import { type TargetStatus, targetStatus } from "../job/status.js";
import { DEFAULT_STATE_DIR } from "../job/targets.js";
import { jsonText, printable } from "../printable.js";
import { formatBytes, parseDuration } from "../units.js";
import { stderrLog } from "./receiver-options.js";

interface StatusFlags {
  stateDir: string;
  maxAge?: string;
  json?: boolean;
}

/** `blockferry status TARGET`: the secondary's view of its copy, for people and for monitoring. */
export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("show the last sync of a target copy; exit non-zero if it is incomplete or older than --max-age")
    .argument("<target>", "the target's block device or image file, on this (the receiving) host")
    .option("--state-dir <dir>", "where block devices' state files live", DEFAULT_STATE_DIR)
    .option("--max-age <duration>", "exit 19 if the last completed sync is older than this (e.g. 26h)")
    .option("--json", "print JSON on stdout")
    .action(async (target: string, flags: StatusFlags) => {
      const maxAgeMs = flags.maxAge === undefined ? undefined : parseDuration("--max-age", flags.maxAge);
      const status = await targetStatus(target, flags.stateDir, stderrLog).catch((e: unknown) => {
        // Monitoring reads stdout: a status it cannot take is still one line of JSON.
        if (flags.json && e instanceof BlockferryError) {
          process.stdout.write(`${jsonText({ target, ok: false, code: e.code, problem: e.message })}\n`);
        }
        throw e;
      });
      const problem = judge(status, maxAgeMs);
      if (flags.json) {
        process.stdout.write(`${jsonText({ ...status, ok: problem === undefined, problem: problem?.message })}\n`);
      } else {
        process.stdout.write(describe(status));
      }
      if (problem !== undefined) throw problem;
    });
}

/**
 * Why no usable standby is here, if none is: the copy itself must be
 * complete, verified and unwritten since, or a good copy kept while a later
 * sync writes it (`blockferry promote` restores it), or the copy promoted.
 */
function judge(s: TargetStatus, maxAgeMs: number | undefined): BlockferryError | undefined {
  if (s.promotedAt !== undefined) return undefined; // the primary now: a sync into it is refused
  const main = mainProblem(s);
  if (main !== undefined && (s.good === undefined || s.good.lost !== undefined)) {
    const lost =
      s.good?.lost !== undefined
        ? `; the kept good copy ${s.good.where} is LOST: ${s.good.lost}`
        : s.lostGood === undefined
          ? ""
          : `; the kept good copy was lost at ${s.lostGood.at}: ${s.lostGood.why}`;
    return new BlockferryError("E_INCOMPLETE", `${s.target}: ${main}${lost}`);
  }
  const usable = main === undefined ? s.ageSeconds : ageOf(s.good?.lastSync);
  if (maxAgeMs !== undefined && (usable ?? Number.POSITIVE_INFINITY) * 1000 > maxAgeMs) {
    return new BlockferryError(
      "E_STALE",
      `${s.target}: the last completed sync is ${hours(usable ?? 0)} old, more than --max-age ${maxAgeMs / 3_600_000} h`,
    );
  }
  return undefined;
}

/** Why the copy itself (not a kept one) cannot be relied on. */
function mainProblem(s: TargetStatus): string | undefined {
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
  if (s.writtenSince === "yes") {
    return "written since the last sync (mounted read-write, or changed outside blockferry): no longer the verified copy";
  }
  return undefined;
}

function ageOf(sync: TargetStatus["lastSync"]): number | undefined {
  return sync === undefined ? undefined : (Date.now() - Date.parse(sync.at)) / 1000;
}

function hours(seconds: number): string {
  return `${(seconds / 3600).toFixed(1)} h`;
}

function describe(s: TargetStatus): string {
  const lines = [
    `${s.target}: ${headline(s)}, generation ${s.generation}` + (s.stateFile ? ` (state ${s.stateFile})` : ""),
  ];
  if (s.promotedAt !== undefined) {
    lines.push(
      `  promoted at ${s.promotedAt}: it serves as the primary; syncs into it are refused (exit 22) unless --force`,
    );
  }
  const l = s.lastSync;
  if (l !== undefined) {
    const how = l.mode === "copy" ? "full copy" : l.mode === "cached" ? "delta (digest cache)" : "delta";
    lines.push(
      `  last completed sync: ${l.at} (${hours(s.ageSeconds ?? 0)} ago), generation ${l.generation}, from ${l.sourceId}`,
      `  ${how} in ${l.seconds.toFixed(1)} s, ${formatBytes(l.bytesIn)} received, ${formatBytes(l.bytesOut)} sent back, ` +
        (l.reread ? "re-read from disk and checked" : "checked against the source's fingerprint"),
    );
  }
  const g = s.good;
  if (g !== undefined) {
    const from = g.lastSync === undefined ? "" : `, synced ${g.lastSync.at} from ${g.lastSync.sourceId}`;
    const use = mainProblem(s) === undefined ? "" : "; this is the good copy: `blockferry promote` makes it the volume";
    const state = g.lost === undefined ? use : `, LOST: ${g.lost}`;
    lines.push(`  kept good copy: generation ${g.generation}${from}, ${g.method} at ${g.where}${state}`);
  }
  if (s.lostGood !== undefined) lines.push(`  LOST a kept good copy at ${s.lostGood.at}: ${s.lostGood.why}`);
  for (const d of s.dirs)
    lines.push(`  directory ${d.path}: ${d.entries} entries, ${formatBytes(d.bytes)}, placed ${d.at}`);
  return `${lines.map(printable).join("\n")}\n`;
}

function headline(s: TargetStatus): string {
  if (s.promotedAt !== undefined) return "PROMOTED (the primary now)";
  if (!s.complete) return s.runningPid !== undefined ? "INCOMPLETE, a sync is running" : "INCOMPLETE";
  return s.writtenSince === "yes" ? "WRITTEN SINCE its last sync" : "complete and verified";
}
