import type { Command } from "commander";
import { TransferStats } from "../engine/stats.js";
import { BlockferryError } from "../errors.js";
import { defaultCacheDir, runSync, type SyncOutcome } from "../job/sync.js";
import { DEFAULT_STATE_DIR } from "../job/targets.js";
import { parseDestination } from "../transport/destination.js";
import { Progress, progressMode } from "./progress.js";
import { stderrLog } from "./receiver-options.js";
import { addClientSecurityOptions, type ClientSecurityFlags, clientSecurity } from "./security-options.js";
import { sourceSettings } from "./source-settings.js";
import { formatBytes, formatDuration, formatRate } from "./units.js";

export const DEFAULT_BLOCK_SIZE = 64 * 1024;

interface SyncFlags extends ClientSecurityFlags {
  full?: boolean;
  compress: string;
  blockSize: string;
  fineBlockSize: string;
  bwlimit?: string;
  verify?: boolean;
  dryRun?: boolean;
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
}

/** `blockferry sync SOURCE DEST`: copy a volume to a local path or a receiver. */
export function registerSync(program: Command): void {
  addClientSecurityOptions(program.command("sync"))
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
    .option("--bwlimit <rate>", "at most this many bytes per second on the wire, e.g. 50M")
    .option("--verify", "the target re-reads the copy from disk (O_DIRECT) before confirming it")
    .option("--dry-run", "compare and report how many blocks and bytes would be sent; write nothing")
    .option("--json", "print a JSON summary on stdout")
    .option("-q, --quiet", "no progress, no summary on stderr (for cron)")
    .option("--create", "local DEST: create the image file if missing")
    .option("--state-dir <dir>", "local DEST on a block device: where its state file lives", DEFAULT_STATE_DIR)
    .option("--no-cache", "compare with the target's own digests, not the digest cache kept from the last sync")
    .option("--cache-dir <dir>", "where the digest caches of destinations live", defaultCacheDir())
    .option("--cache-runs <n>", "syncs in a row the digest cache may serve; the next has the target read its copy", "6")
    .option("--rsh <command>", "ssh destinations: the ssh command (port, key, cipher)", "ssh")
    .option("--remote-path <command>", "ssh destinations: the blockferry command on the remote host", "blockferry")
    .option("--paranoid", "compare every block with the target's own digests, then have it re-read the copy")
    .action(async (source: string, dest: string, flags: SyncFlags) => {
      const settings = sourceSettings(flags);
      const { blockSize } = settings;
      const destination = parseDestination(dest);
      const stats = new TransferStats();
      const progress = new Progress(stats, "sync", progressMode(flags.quiet ?? false));
      const log = flags.quiet ? () => {} : stderrLog;
      progress.start();
      let outcome: SyncOutcome;
      try {
        outcome = await runSync({
          source,
          destination,
          ...settings,
          full: flags.full ?? false,
          verify: (flags.verify ?? false) || (flags.paranoid ?? false),
          dryRun: flags.dryRun ?? false,
          create: flags.create ?? false,
          stateDir: flags.stateDir,
          cacheDir: flags.cacheDir,
          readCache: flags.cache && !flags.paranoid,
          security: () => clientSecurity(flags, log),
          ssh: { rsh: flags.rsh, remotePath: flags.remotePath },
          stats,
          log,
        });
      } catch (e) {
        progress.stop();
        if (flags.json) {
          const code = e instanceof BlockferryError ? e.code : "E_INTERNAL";
          process.stdout.write(`${JSON.stringify({ ok: false, code, message: (e as Error).message })}\n`);
        }
        throw e;
      }
      progress.stop();
      const summary = summarize(source, dest, outcome, stats, flags.dryRun ?? false, blockSize);
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (!flags.quiet && flags.dryRun) {
        stderrLog(
          `dry run, nothing written: ${summary.blocks.changed} of ${summary.blocks.compared} blocks would be sent ` +
            `(${formatBytes(summary.bytes.raw)} of data, ${formatBytes(summary.bytes.zero)} as zeros)` +
            (summary.mode === "delta"
              ? `; digests ${formatBytes(summary.bytes.digests)}`
              : "; the target holds no copy"),
        );
      } else if (!flags.quiet) {
        const resumed = summary.bytes.resumedFrom > 0 ? `, resumed at ${formatBytes(summary.bytes.resumedFrom)}` : "";
        const delta =
          summary.mode === "delta"
            ? `; delta: ${summary.blocks.changed} of ${summary.blocks.compared} blocks changed, ${summary.digestsFrom === "cache" ? "digests from the cache" : `digests ${formatBytes(summary.bytes.digests)}`}, target read ${formatBytes(summary.bytes.targetRead)}`
            : "";
        const t = summary.stageSeconds;
        stderrLog(
          `${summary.mode === "delta" ? "synced" : "copied"} ${formatBytes(summary.bytes.total)} in ${formatDuration(summary.seconds)} (${formatRate(summary.throughput)})${resumed}: ` +
            `read ${formatBytes(summary.bytes.read)}, sent ${formatBytes(summary.bytes.wire)}, zero ${formatBytes(summary.bytes.zero)}${delta}; ` +
            `seconds reading ${t.reading.toFixed(1)}, hashing ${t.hashing.toFixed(1)}, waiting ${t.waiting.toFixed(1)}, target writing ${t.targetWriting.toFixed(1)}; ` +
            `${summary.digestsFrom === "cache" ? "verified against the target's record (it read nothing)" : "verified"}, fingerprint ${summary.fingerprint}`,
        );
      }
    });
}

function summarize(
  source: string,
  destination: string,
  outcome: SyncOutcome,
  stats: TransferStats,
  dryRun: boolean,
  blockSize: number,
) {
  const seconds = stats.elapsedSeconds();
  return {
    ok: true,
    source,
    destination,
    /** "delta": the target held a copy and only changed blocks were sent; "copy": everything was. */
    mode: outcome.source.compared ? "delta" : "copy",
    /** Where the target's digests came from in a delta: the source's cache, or the target reading its volume. */
    digestsFrom: outcome.source.cached ? "cache" : outcome.source.compared ? "target" : "none",
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
    dryRun,
    fingerprint: outcome.source.fingerprint,
    verified: !dryRun,
  };
}
