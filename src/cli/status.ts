import type { Command } from "commander";
import { BlockferryError } from "../errors.js";
import { defaultCacheDir } from "../job/digest-caches.js";
import { type HistoryEntry, readHistory, sourceHistoryPath, targetHistoryPath } from "../job/history.js";
import { type TargetStatus, targetStatus } from "../job/status.js";
import { DEFAULT_STATE_DIR } from "../job/targets.js";
import { jsonText } from "../printable.js";
import { parseDuration } from "../units.js";
import { invalid } from "../validate.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { prometheusText, writeMetricsFile } from "./metrics.js";
import { stderrLog } from "./receiver-options.js";
import { reportFacts } from "./report-facts.js";
import { describeStatus } from "./status-describe.js";
import { describeHistory } from "./status-history.js";
import { judge } from "./status-judge.js";
import { statusGauges } from "./status-metrics.js";
import { NAGIOS, nagiosLine, nagiosText } from "./status-nagios.js";

interface StatusFlags {
  stateDir: string;
  cacheDir: string;
  maxAge?: string;
  warnAge?: string;
  json?: boolean;
  nagios?: boolean;
  prometheus?: boolean;
  metricsFile?: string;
  history?: string | true;
}

/** `blockferry status TARGET`: the secondary's view of its copy, for people and for monitoring. */
export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("show the last sync of a target copy; exit non-zero if it is incomplete or older than --max-age")
    .argument("[targets...]", "the target's block device or image file, on this (the receiving) host")
    .option("--state-dir <dir>", "where block devices' state files live", DEFAULT_STATE_DIR)
    .option("--max-age <duration>", "exit 19 (--nagios: CRITICAL) if the last completed sync is older (e.g. 26h)")
    .option("--warn-age <duration>", "--nagios: WARNING if the last completed sync is older than this (e.g. 25h)")
    .option("--json", "print JSON on stdout")
    .option("--nagios", "one line and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a Nagios/Icinga plugin)")
    .option("--prometheus", "Prometheus text format on stdout (or --metrics-file), one series per TARGET")
    .option("--metrics-file <path>", "--prometheus: write to PATH (a temporary file renamed into place)")
    .option(
      "--history [n]",
      "the last N syncs (default 20) served into TARGET, or with no TARGET run by this host as a source",
    )
    .option("--cache-dir <dir>", "--history with no TARGET: the source's cache directory", defaultCacheDir())
    .action(async (targets: string[], flags: StatusFlags) => {
      const maxAgeMs = flags.maxAge === undefined ? undefined : parseDuration("--max-age", flags.maxAge);
      const warnAgeMs = flags.warnAge === undefined ? undefined : parseDuration("--warn-age", flags.warnAge);
      if (flags.history !== undefined) return showHistory(targets, flags);
      if (flags.prometheus) return showMetrics(targets, flags, maxAgeMs);
      if (targets.length !== 1) {
        throw invalid("TARGET", "one target (several only with --prometheus)", `${targets.length}`);
      }
      const target = targets[0] as string;
      if (flags.nagios) return showNagios(target, flags.stateDir, { warnAgeMs, maxAgeMs });
      const status = await targetStatus(target, flags.stateDir, stderrLog).catch((e: unknown) => {
        // Monitoring reads stdout: a status it cannot take is still one line of JSON.
        if (flags.json && e instanceof BlockferryError) {
          const facts = reportFacts(exitCodeFor(e.code));
          process.stdout.write(`${jsonText({ ...facts, target, ok: false, code: e.code, problem: e.message })}\n`);
        }
        throw e;
      });
      const problem = judge(status, maxAgeMs);
      if (flags.json) {
        const facts = reportFacts(problem === undefined ? EXIT.ok : exitCodeFor(problem.code));
        process.stdout.write(
          `${jsonText({ ...facts, ...status, ok: problem === undefined, problem: problem?.message })}\n`,
        );
      } else {
        process.stdout.write(describeStatus(status));
      }
      if (problem !== undefined) throw problem;
    });
}

/** --nagios: the exit code is the plugin's, whatever happened. */
async function showNagios(target: string, stateDir: string, t: Parameters<typeof nagiosLine>[1]): Promise<void> {
  try {
    const { state, line } = nagiosLine(await targetStatus(target, stateDir, () => {}), t);
    process.stdout.write(`${line}\n`);
    process.exitCode = state;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    process.stdout.write(`${nagiosText(NAGIOS.unknown, `status not taken: ${why}`)}\n`);
    process.exitCode = NAGIOS.unknown;
  }
}

/** --prometheus: a target whose status cannot be taken still has its status code. */
async function showMetrics(targets: string[], flags: StatusFlags, maxAgeMs: number | undefined): Promise<void> {
  if (targets.length === 0) throw invalid("TARGET", "one or more targets for --prometheus", "none");
  const rows: Array<{ status: TargetStatus; history: HistoryEntry[] }> = [];
  const failed: Array<{ target: string; code: number }> = [];
  for (const target of targets) {
    try {
      const status = await targetStatus(target, flags.stateDir, stderrLog);
      const history = status.stateFile === undefined ? [] : await readHistory(targetHistoryPath(status.stateFile), 50);
      rows.push({ status, history });
    } catch (e) {
      if (!(e instanceof BlockferryError)) throw e;
      stderrLog(e.message);
      failed.push({ target, code: exitCodeFor(e.code) });
    }
  }
  const gauges = statusGauges(rows, maxAgeMs);
  const code = gauges.find((g) => g.name === "blockferry_target_status_code");
  for (const f of failed) code?.samples.push({ labels: { target: f.target }, value: f.code });
  const text = prometheusText(gauges);
  if (flags.metricsFile !== undefined) await writeMetricsFile(flags.metricsFile, text);
  else process.stdout.write(text);
}

/** --history: the target's (receiver) or with no target this host's as a source. */
async function showHistory(named: string[], flags: StatusFlags): Promise<void> {
  // `--history TARGET`: the option's optional N took the target (a count is digits; a path, ./20, never is).
  const taken = typeof flags.history === "string" && !/^\d+$/.test(flags.history);
  const targets = taken ? [flags.history as string, ...named] : named;
  const limit = flags.history === true || flags.history === undefined || taken ? 20 : Number(flags.history);
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw invalid("--history", "a whole number of entries", `${flags.history}`);
  if (targets.length > 1) throw invalid("TARGET", "at most one target with --history", `${targets.length}`);
  const target = targets[0];
  let path = sourceHistoryPath(flags.cacheDir);
  if (target !== undefined) {
    const status = await targetStatus(target, flags.stateDir, stderrLog);
    path = targetHistoryPath(status.stateFile ?? "");
  }
  const entries = await readHistory(path, limit);
  if (flags.json) {
    process.stdout.write(`${jsonText({ ...reportFacts(EXIT.ok), history: path, entries })}\n`);
  } else {
    process.stdout.write(describeHistory(path, entries, target === undefined));
  }
}
