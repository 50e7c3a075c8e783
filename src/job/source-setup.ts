/**
 * The source's set-up, made one way for a push (`sync`), for the remote end
 * of a pull (`send --stdio`), and for the arguments a pull passes to it: one
 * settings type, one function that names the source (this host and its real
 * path, so a pull and a push of one volume resume and cache alike), one that
 * opens it, one that builds the engine's options, and one table of `send`'s
 * options that both registers them and writes a pull's arguments.
 */
import { realpath } from "node:fs/promises";
import { hostname } from "node:os";
import type { DigestCacheStore } from "../engine/digest-cache.js";
import { RateLimiter } from "../engine/rate-limit.js";
import type { SourceOptions } from "../engine/source.js";
import type { TransferStats } from "../engine/stats.js";
import { openVolume, type Volume } from "../native/index.js";
import { checkLiveSource } from "./live-source.js";

/** How a source reads and sends. */
export interface SourceSettings {
  blockSize: number;
  /** Two-level comparison: pieces of changed blocks compared again (0: off). */
  fineSize: number;
  compress: boolean;
  full: boolean;
  verify: boolean;
  dryRun: boolean;
  /** Overwrite a target written since its last sync, or promoted (--force): what it holds is lost. */
  force?: boolean | undefined;
  /** Bytes per second on the wire, or undefined for no limit. */
  bwlimit: number | undefined;
  /** Bytes per second read from the source's disk, or undefined for no limit. */
  readLimit?: number | undefined;
  /** Offer the digest cache to the target (false: --no-cache, --paranoid). A new one is written either way. */
  readCache: boolean;
  /** Syncs in a row the cache may serve before the target reads its copy again. */
  cacheRuns: number;
  /** Copy a source mounted read-write (or used as swap), with a warning, instead of refusing it. */
  allowLive?: boolean | undefined;
}

/** Names the source to the target: this host and the volume's real path. */
export async function sourceIdOf(path: string): Promise<string> {
  return `${hostname()}:${await realpath(path)}`;
}

/** Opens the source for reading, once it is known not to be in use (or --allow-live says copy it anyway). */
export async function openSource(path: string, s: SourceSettings, log: (line: string) => void): Promise<Volume> {
  await checkLiveSource(path, s.allowLive ?? false, log);
  return openVolume(path);
}

/** The engine's source options for `s`, without the channel and the target's name. */
export function sourceOptions(
  s: SourceSettings,
  volume: Volume,
  sourceId: string,
  cache: DigestCacheStore,
  stats: TransferStats,
  log: (line: string) => void,
): Omit<SourceOptions, "channel" | "targetName"> {
  return {
    volume,
    sourceId,
    blockSize: s.blockSize,
    fineSize: s.fineSize < s.blockSize ? s.fineSize : 0,
    compress: s.compress,
    full: s.full,
    verify: s.verify,
    dryRun: s.dryRun,
    force: s.force ?? false,
    rateLimiter: s.bwlimit === undefined ? undefined : new RateLimiter(s.bwlimit),
    readLimiter: s.readLimit === undefined ? undefined : new RateLimiter(s.readLimit),
    cache,
    readCache: s.readCache,
    cacheRuns: s.cacheRuns,
    stats,
    log,
  };
}

/** One of `send`'s options: its commander spelling, and the value a pull passes for `s` (true: the flag alone). */
interface SendOption {
  flag: string;
  value: (s: SourceSettings) => string | boolean | undefined;
}

/** `send`'s options that carry the settings: registered by `send`, written by a pull from the same table. */
export const SEND_OPTIONS: readonly SendOption[] = [
  { flag: "--block-size <size>", value: (s) => String(s.blockSize) },
  { flag: "--fine-block-size <size>", value: (s) => String(s.fineSize < s.blockSize ? s.fineSize : 0) },
  { flag: "--compress <codec>", value: (s) => (s.compress ? "lz4" : "none") },
  { flag: "--cache-runs <n>", value: (s) => String(s.cacheRuns) },
  { flag: "--bwlimit <rate>", value: (s) => (s.bwlimit === undefined ? undefined : String(s.bwlimit)) },
  { flag: "--read-limit <rate>", value: (s) => (s.readLimit === undefined ? undefined : String(s.readLimit)) },
  { flag: "--full", value: (s) => s.full },
  { flag: "--verify", value: (s) => s.verify },
  { flag: "--dry-run", value: (s) => s.dryRun },
  { flag: "--force", value: (s) => s.force ?? false },
  { flag: "--no-cache", value: (s) => !s.readCache },
  { flag: "--allow-live", value: (s) => s.allowLive ?? false },
];

/** The arguments that give a remote `send` the settings `s`. */
export function sendArgs(s: SourceSettings): string[] {
  return SEND_OPTIONS.flatMap(({ flag, value }) => {
    const v = value(s);
    const name = flag.split(" ")[0] as string;
    if (v === true) return [name];
    return typeof v === "string" ? [name, v] : [];
  });
}
