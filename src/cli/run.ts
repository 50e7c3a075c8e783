import { resolve } from "node:path";
import { Command, type Option } from "commander";
import { BlockferryError } from "../errors.js";
import { defaultCacheDir, destinationKey } from "../job/digest-caches.js";
import type { HistoryEntry } from "../job/history.js";
import { type Job, readJobFile, type Setting } from "../job/job-file.js";
import { runScheduled } from "../job/schedule.js";
import { jsonText } from "../printable.js";
import { parseDestination } from "../transport/destination.js";
import { invalid } from "../validate.js";
import { exitCodeFor } from "./exit-codes.js";
import { abortOnSignals } from "./interrupt.js";
import { stderrLog } from "./receiver-options.js";
import { reportFacts } from "./report-facts.js";
import { checkJobs } from "./run-check.js";
import type { SyncSummary } from "./summary.js";
import { checkSyncFlags, defineSync, parseWithDir, type SyncFlags, syncWithFlags } from "./sync.js";
import { writeSyncMetrics } from "./sync-record.js";

/** `sync` options a job file may not hold: they are the run's own. */
const RUN_LEVEL = new Set(["json", "quiet", "force"]);

interface RunFlags {
  jobs: string;
  check?: boolean;
  connect?: boolean;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
  metricsFile?: string;
}

/** `blockferry run JOBFILE [JOB...]`: the nightly jobs a file describes. */
export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run the jobs of a job file (TOML; all of them, or those named)")
    .argument("<jobfile>", "the job file, e.g. /etc/blockferry/nightly.toml")
    .argument("[jobs...]", "the jobs to run (default: all, in file order)")
    .option("--jobs <n>", "run up to N jobs at once (jobs that share a volume, destination or LVM run in turn)", "1")
    .option("--check", "check the file, and that each job's paths, keys and hook commands exist; run nothing")
    .option("--connect", "with --check: reach each receiver and check the pin and that this key may write the target")
    .option("--json", "print a JSON summary of every job on stdout")
    .option("-q, --quiet", "no progress, no summaries on stderr (errors still)")
    .option(
      "--metrics-file <path>",
      "write Prometheus metrics of every job to PATH (a job's own metrics-file key: of that job, to its file)",
    )
    .option(
      "--force",
      "this run only: overwrite targets written since their last sync, or promoted (never a job file key)",
    )
    .action(async (file: string, names: string[], flags: RunFlags) => {
      const parallel = Number(flags.jobs);
      if (!/^\d+$/.test(flags.jobs) || parallel < 1 || parallel > 64) {
        throw invalid("--jobs", "a whole number from 1 to 64", flags.jobs);
      }
      const options = defineSync(new Command("sync")).options.filter((o) => !RUN_LEVEL.has(key(o)));
      const catalogue: Setting[] = options.map((o) => ({ key: key(o), kind: kindOf(o) }));
      const all = await readJobFile(file, catalogue);
      const chosen = choose(all, names, file);
      const prepared = chosen.map((job) => ({ job, flags: flagsFor(job, options, flags) }));
      // Bad values (a size, a destination) are found now, before any job runs.
      for (const { job, flags: f } of prepared) check(job, f, file);
      if (flags.check) return checkJobs(file, prepared, flags.connect ?? false);
      if (flags.connect) throw invalid("--connect", "--check as well", "--connect alone");
      const signal = abortOnSignals(stderrLog);
      const entries: HistoryEntry[] = [];
      const results = await runScheduled(
        prepared.map(({ job, flags: f }) => ({
          name: job.name,
          resources: resourcesOf(job, f),
          run: () => {
            const log = (line: string) => stderrLog(`[${job.name}] ${line}`);
            if (!flags.quiet) log(`starting: ${job.source} -> ${job.destination}`);
            return syncWithFlags(job.source, job.destination, f, signal, log, parallel === 1, {
              job: job.name,
              entries,
            });
          },
        })),
        parallel,
        () => signal.aborted,
      );
      try {
        report(
          prepared.map((p) => p.job),
          results,
          flags,
        );
      } finally {
        await writeRunMetrics(prepared, entries, flags.metricsFile);
      }
    });
}

function key(o: Option): string {
  return (o.long ?? "").replace(/^--/, "");
}

function kindOf(o: Option): Setting["kind"] {
  if (Array.isArray(o.defaultValue)) return "list";
  return o.required || o.optional ? "value" : "flag";
}

function choose(all: Job[], names: string[], file: string): Job[] {
  if (names.length === 0) return all;
  return names.map((name) => {
    const job = all.find((j) => j.name === name);
    if (job === undefined) {
      throw new BlockferryError("E_CONFIG", `${file}: no job "${name}"; it has ${all.map((j) => j.name).join(", ")}`);
    }
    return job;
  });
}

/** The flags `sync` would have parsed: its defaults, then the job's settings. */
function flagsFor(job: Job, options: readonly Option[], run: RunFlags): SyncFlags {
  const flags: Record<string, unknown> = {};
  for (const o of options) flags[o.attributeName()] = o.negate ? true : o.defaultValue;
  for (const [k, v] of job.settings) {
    const o = options.find((opt) => key(opt) === k) as Option;
    flags[o.attributeName()] = o.negate ? v !== true : v;
  }
  flags.quiet = run.quiet ?? false;
  flags.force = run.force ?? false;
  flags.json = false; // the run prints one summary of all jobs
  return flags as unknown as SyncFlags;
}

/** A job's values, checked as `sync` would; a bad one is named with its line. */
function check(job: Job, flags: SyncFlags, file: string): void {
  try {
    checkSyncFlags(job.destination, flags, job.source);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // The message names the option (--block-size: ...): that is the job's key.
    const key = /^--?([a-z-]+)\b/.exec(message)?.[1] ?? (/^DEST\b/.test(message) ? "destination" : undefined);
    const line = key === undefined ? undefined : job.lines.get(key);
    throw new BlockferryError(
      "E_CONFIG",
      `${file}${line === undefined ? "" : `:${line}`}: job "${job.name}": ${message}`,
    );
  }
}

/** What two jobs must not use at once. */
function resourcesOf(job: Job, flags: SyncFlags): string[] {
  const dest = parseDestination(job.destination);
  const host = dest.kind === "local" ? "local" : dest.kind === "tcp" ? dest.endpoint.host : dest.host;
  return [
    `source:${job.source.includes(":") ? job.source : resolve(job.source)}`,
    `dest:${destinationKey(dest)}`,
    // Each snapshot takes the volume group's free space unless sized: one at a time.
    ...(flags.snapshot === "lvm" ? ["lvm"] : []),
    ...flags.withDir.map((d) => `dir:${host}:${parseWithDir(d).dest}`),
  ];
}

function report(jobs: Job[], results: PromiseSettledResult<SyncSummary>[], flags: RunFlags): void {
  const failed: { job: Job; error: BlockferryError }[] = [];
  const rows = results.map((r, i) => {
    const job = jobs[i] as Job;
    if (r.status === "fulfilled") return { job: job.name, exitCode: 0, ...r.value };
    const error =
      r.reason instanceof BlockferryError
        ? r.reason
        : r.reason === undefined
          ? new BlockferryError("E_INTERRUPTED", "not started: the run was interrupted")
          : new BlockferryError("E_INTERNAL", String(r.reason));
    failed.push({ job, error });
    stderrLog(`[${job.name}] failed: ${error.message}`);
    return { job: job.name, ok: false, code: error.code, exitCode: exitCodeFor(error.code), message: error.message };
  });
  const first = failed[0];
  if (flags.json) {
    const facts = reportFacts(first === undefined ? 0 : exitCodeFor(first.error.code));
    process.stdout.write(`${jsonText({ ...facts, ok: failed.length === 0, jobs: rows })}\n`);
  }
  if (first === undefined) return;
  // The exit code is the first failed job's (in file order), so one job's failure is never masked.
  const names = failed.map((f) => `${f.job.name} (${f.error.code})`).join(", ");
  throw new BlockferryError(first.error.code, `${failed.length} of ${jobs.length} jobs failed: ${names}`);
}

/**
 * The metrics files of the run: --metrics-file with every job, and each file a
 * job's own metrics-file key names with the jobs that name it (written once,
 * so jobs sharing a file do not overwrite each other).
 */
async function writeRunMetrics(
  prepared: Array<{ job: Job; flags: SyncFlags }>,
  entries: HistoryEntry[],
  all: string | undefined,
): Promise<void> {
  const files = new Map<string, HistoryEntry[]>();
  if (all !== undefined) files.set(all, entries);
  for (const { job, flags } of prepared) {
    if (flags.metricsFile === undefined) continue;
    const mine = entries.filter((e) => e.job === job.name);
    files.set(flags.metricsFile, [...(files.get(flags.metricsFile) ?? []), ...mine]);
  }
  const cacheDir = prepared[0]?.flags.cacheDir;
  for (const [path, list] of files) await writeSyncMetrics(path, list, cacheDir ?? defaultCacheDir());
}
