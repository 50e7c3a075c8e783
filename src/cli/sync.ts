import { isAbsolute, resolve } from "node:path";
import type { Command } from "commander";
import { statRoot } from "../dirsync/walk.js";
import type { DirSpec } from "../engine/dir-transfer.js";
import { TransferStats } from "../engine/stats.js";
import { BlockferryError } from "../errors.js";
import { snapshotSizeArgs } from "../host/lvm.js";
import { defaultCacheDir } from "../job/digest-caches.js";
import type { HistoryEntry } from "../job/history.js";
import { type KeepGood, parseKeepGood } from "../job/keep-good.js";
import { runNightly } from "../job/nightly.js";
import { DEFAULT_STATE_DIR } from "../job/targets.js";
import { jsonText } from "../printable.js";
import { MAX_DIRS } from "../protocol/messages.js";
import { parseDestination, parseSshSpec } from "../transport/destination.js";
import { parseDuration } from "../units.js";
import { invalid } from "../validate.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { abortOnSignals } from "./interrupt.js";
import { Progress, progressMode } from "./progress.js";
import { stderrLog } from "./receiver-options.js";
import { reportFacts } from "./report-facts.js";
import { addClientSecurityOptions, type ClientSecurityFlags, clientSecurity } from "./security-options.js";
import { sourceSettings } from "./source-settings.js";
import { describeSummary, type SyncSummary, summarize } from "./summary.js";
import { groupSyncHelp } from "./sync-help.js";
import { recordSync, syncEntry, writeSyncMetrics } from "./sync-record.js";

export const DEFAULT_BLOCK_SIZE = 64 * 1024;

export interface SyncFlags extends ClientSecurityFlags {
  full?: boolean;
  compress: string;
  blockSize: string;
  fineBlockSize: string;
  bwlimit?: string;
  readLimit?: string;
  verify?: boolean;
  dryRun?: boolean;
  force?: boolean;
  keepGood?: string;
  keepGoodSize?: string;
  json?: boolean;
  quiet?: boolean;
  create?: boolean;
  stateDir: string;
  cache: boolean;
  cacheDir: string;
  paranoid?: boolean;
  cacheRuns: string;
  rsh: string;
  remotePath: string;
  snapshot: string;
  snapshotSize?: string;
  preSnapshot?: string;
  postSnapshot?: string;
  hookTimeout: string;
  withDir: string[];
  allowLive?: boolean;
  metricsFile?: string;
}

/** The arguments and options of `sync`; `run` reads them too, as the keys a job file may hold. */
export function defineSync(command: Command): Command {
  return addClientSecurityOptions(command)
    .description("copy SOURCE (block device or image file) to DEST, resuming an interrupted copy")
    .argument("<source>", "block device or image file to read, or [USER@]HOST:/PATH over ssh (DEST then local)")
    .argument(
      "<dest>",
      "local path, [USER@]HOST:/PATH over ssh, or tcp://HOST:PORT/TARGET-NAME of a `blockferry serve`",
    )
    .option("--full", "copy everything from the start, even if an interrupted copy could resume")
    .option("--compress <codec>", "lz4 or none", "none")
    .option("--block-size <size>", "block size, a power of two from 4K to 16M", "64K")
    .option(
      "--fine-block-size <size>",
      "pieces of changed blocks compared again, sending only those that differ; 0: off",
      "4K",
    )
    .option(
      "--bwlimit <rate>",
      "at most this many bytes per second on the wire: 50M or 50MiB (MiB/s), 50MB (10^6 bytes/s)",
    )
    .option(
      "--read-limit <rate>",
      "at most this many bytes per second read from the source's disk, as --bwlimit (a delta reads it all, sends little)",
    )
    .option("--verify", "the target re-reads the copy from disk (O_DIRECT) before confirming it")
    .option("--dry-run", "compare and report how many blocks and bytes would be sent; write nothing")
    .option(
      "--force",
      "overwrite a target written since its last sync (a failed-over standby) or promoted: what it holds is lost",
    )
    .option("--json", "print a JSON summary on stdout")
    .option(
      "--metrics-file <path>",
      "write Prometheus metrics of the sync to PATH (node_exporter's textfile collector: *.prom, renamed into place)",
    )
    .option("-q, --quiet", "no progress, no summary on stderr (for cron)")
    .option("--create", "local DEST: create the image file if missing")
    .option(
      "--keep-good <method>",
      "local or ssh DEST: keep its last good copy while the sync writes it (reflink for an image on XFS or btrfs, lvm for an LV)",
    )
    .option("--keep-good-size <size>", "with --keep-good lvm on a thick LV: the snapshot's size (default 20%ORIGIN)")
    .option("--state-dir <dir>", "local DEST on a block device: where its state file lives", DEFAULT_STATE_DIR)
    .option("--no-cache", "compare with the target's own digests, not the digest cache kept from the last sync")
    .option("--cache-dir <dir>", "where the digest caches of destinations live", defaultCacheDir())
    .option("--cache-runs <n>", "syncs in a row the digest cache may serve; the next has the target read its copy", "6")
    .option("--rsh <command>", "ssh destinations: the ssh command (port, key, cipher)", "ssh")
    .option("--remote-path <command>", "ssh destinations: the blockferry command on the remote host", "blockferry")
    .option("--paranoid", "compare every block with the target's own digests, then have it re-read the copy")
    .option("--allow-live", "copy a source mounted read-write (no snapshot) with a warning, instead of refusing it")
    .option(
      "--snapshot <kind>",
      "lvm: copy from an LVM snapshot of SOURCE, removed afterwards on every path; none",
      "none",
    )
    .option(
      "--snapshot-size <size>",
      "the snapshot's size (20G, 50%FREE, 10%ORIGIN; default: all free space of the VG)",
    )
    .option("--pre-snapshot <command>", "run before the snapshot (e.g. stop a service, fsfreeze -f); failure aborts")
    .option(
      "--post-snapshot <command>",
      "run once the snapshot exists (or after the copy without one), even on failure",
    )
    .option("--hook-timeout <duration>", "a hook still running after this is killed and the job fails", "10m")
    .option(
      "--with-dir <SRC[:DEST]>",
      "after the copy, place directory SRC at DEST on the receiving host (default DEST: SRC; repeatable)",
      (spec: string, all: string[]) => [...all, spec],
      [] as string[],
    );
}

/** `blockferry sync SOURCE DEST`: copy a volume to a local path or a receiver. */
export function registerSync(program: Command): void {
  groupSyncHelp(defineSync(program.command("sync"))).action(async (source: string, dest: string, flags: SyncFlags) => {
    const entries: HistoryEntry[] = [];
    try {
      await syncWithFlags(source, dest, flags, abortOnSignals(stderrLog), stderrLog, true, { entries });
    } finally {
      if (flags.metricsFile !== undefined) await writeSyncMetrics(flags.metricsFile, entries, flags.cacheDir);
    }
  });
}

/**
 * One sync as the command line (or a job file) describes it, with its
 * progress and summary; `log` says where lines go (a job's prefix).
 */
export async function syncWithFlags(
  source: string,
  dest: string,
  flags: SyncFlags,
  signal: AbortSignal,
  log: (line: string) => void,
  showProgress = true,
  record: { job?: string; entries?: HistoryEntry[] } = {},
): Promise<SyncSummary> {
  const { settings, destination, snapshot, hookTimeoutMs, dirs } = checkSyncFlags(dest, flags, source);
  // Before any hook, snapshot or copy: a directory that is not there would only fail after all of them.
  for (const dir of dirs) await statRoot(dir.source);
  const stats = new TransferStats();
  const quietLog = flags.quiet ? () => {} : log;
  const progress = new Progress(stats, "sync", showProgress ? progressMode(flags.quiet ?? false) : "quiet");
  progress.start();
  const dryRun = flags.dryRun ?? false;
  const verify = (flags.verify ?? false) || (flags.paranoid ?? false);
  // A dry run writes nothing, and leaves no history either.
  const remember = async (result: { summary: SyncSummary } | { error: unknown }) => {
    if (dryRun) return;
    const entry = syncEntry({ source, destination: dest, job: record.job }, stats, result);
    record.entries?.push(entry);
    await recordSync(flags.cacheDir, entry, log);
  };
  try {
    const outcome = await runNightly({
      source,
      destination,
      ...settings,
      full: flags.full ?? false,
      verify,
      dryRun,
      force: flags.force ?? false,
      keepGood: keepGoodOf(flags),
      create: flags.create ?? false,
      stateDir: flags.stateDir,
      cacheDir: flags.cacheDir,
      readCache: flags.cache && !flags.paranoid,
      // Not quietLog: a newly pinned receiver key is always said.
      security: () => clientSecurity(flags, log),
      ssh: { rsh: flags.rsh, remotePath: flags.remotePath },
      stats,
      log: quietLog,
      dirs,
      allowLive: flags.allowLive ?? false,
      snapshot,
      snapshotSize: flags.snapshotSize,
      preSnapshot: flags.preSnapshot,
      postSnapshot: flags.postSnapshot,
      hookTimeoutMs,
      destinationName: dest,
      // Where snapshot locks live; tests point it elsewhere.
      lockDir: process.env.BLOCKFERRY_LOCK_DIR,
      signal,
    });
    progress.stop();
    const summary = summarize(source, dest, outcome, stats, dryRun, settings.blockSize, verify);
    await remember({ summary });
    if (flags.json) process.stdout.write(`${jsonText({ ...reportFacts(EXIT.ok), ...summary })}\n`);
    if (!flags.quiet) log(describeSummary(summary));
    return summary;
  } catch (e) {
    progress.stop();
    await remember({ error: e });
    if (flags.json) {
      const code = e instanceof BlockferryError ? e.code : "E_INTERNAL";
      const facts = reportFacts(exitCodeFor(code));
      process.stdout.write(
        `${jsonText({ ...facts, ok: false, source, destination: dest, code, message: (e as Error).message })}\n`,
      );
    }
    throw e;
  }
}

/** Every value `sync` takes, checked before anything runs (also by `run --check`, for each job). */
export function checkSyncFlags(dest: string, flags: SyncFlags, source?: string) {
  // A URL as SOURCE: refused now, not after the hooks.
  const remote = source === undefined ? undefined : parseSshSpec(source, "SOURCE");
  const settings = sourceSettings(flags);
  const destination = parseDestination(dest);
  const snapshot = flags.snapshot;
  if (snapshot !== "lvm" && snapshot !== "none") throw invalid("--snapshot", "lvm or none", snapshot);
  if (snapshot === "lvm" && remote !== undefined) {
    // The snapshot is taken where the volume is; a pull cannot take one there yet.
    const push = `a local LV as SOURCE (run the sync on ${remote.host}, pushing to this host)`;
    throw invalid("--snapshot lvm", push, source);
  }
  if (flags.snapshotSize !== undefined) {
    if (snapshot !== "lvm") throw invalid("--snapshot-size", "--snapshot lvm as well", "no --snapshot lvm");
    snapshotSizeArgs(flags.snapshotSize);
  }
  const hookTimeoutMs = parseDuration("--hook-timeout", flags.hookTimeout);
  if (hookTimeoutMs > MAX_HOOK_TIMEOUT_MS) throw invalid("--hook-timeout", "at most 24h", flags.hookTimeout);
  const dirs = flags.withDir.map(parseWithDir);
  if (dirs.length > MAX_DIRS) throw invalid("--with-dir", `at most ${MAX_DIRS} directories`, String(dirs.length));
  return { settings, destination, snapshot, hookTimeoutMs, dirs } as const;
}

const MAX_HOOK_TIMEOUT_MS = 24 * 3600 * 1000;

/** "SRC[:DEST]": SRC on this host (made absolute), DEST an absolute path on the receiving host. */
export function parseWithDir(spec: string): DirSpec {
  const at = spec.indexOf(":");
  const source = resolve(at < 0 ? spec : spec.slice(0, at));
  const dest = at < 0 ? source : spec.slice(at + 1);
  if ((at >= 0 && at === 0) || !isAbsolute(dest) || spec.includes("\0")) {
    throw invalid("--with-dir", "SRC_DIR or SRC_DIR:DEST_DIR with DEST_DIR an absolute path", spec);
  }
  return { source, dest: resolve(dest) };
}

/** --keep-good and --keep-good-size, checked. */
export function keepGoodOf(flags: SyncFlags): KeepGood | undefined {
  if (flags.keepGood === undefined) {
    if (flags.keepGoodSize !== undefined)
      throw invalid("--keep-good-size", "--keep-good lvm as well", flags.keepGoodSize);
    return undefined;
  }
  const [, method] = parseKeepGood(flags.keepGood);
  if (flags.keepGoodSize !== undefined && method !== "lvm") {
    throw invalid("--keep-good-size", "--keep-good lvm (a reflink clone has no size)", flags.keepGoodSize);
  }
  return { method, size: flags.keepGoodSize };
}
