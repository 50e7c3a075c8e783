/**
 * One sync job: open the source, reach the destination through its transport,
 * run the source role (and, for a local destination, the target role in this
 * process over an in-memory pair), and report.
 */
import { createHash } from "node:crypto";
import { realpath, stat } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Duplex } from "node:stream";
import { FileDigestCache } from "../engine/digest-cache.js";
import type { DirSpec } from "../engine/dir-transfer.js";
import { RateLimiter } from "../engine/rate-limit.js";
import { runSource, type SourceOptions, type SourceResult } from "../engine/source.js";
import { TransferStats } from "../engine/stats.js";
import type { TargetResult } from "../engine/target.js";
import { BlockferryError } from "../errors.js";
import { openVolume } from "../native/index.js";
import { FrameChannel } from "../protocol/frames.js";
import { type Destination, parseSshSpec } from "../transport/destination.js";
import { memoryPair } from "../transport/memory.js";
import { type ClientSecurity, connectSecure } from "../transport/secure.js";
import { type SshOptions, withRemote } from "../transport/ssh.js";
import { invalid } from "../validate.js";
import { checkLiveSource } from "./live-source.js";
import { pullOverSsh } from "./pull.js";
import { receiveOne } from "./receive.js";
import { localTargetName, targetMap } from "./targets.js";

export interface SyncJobOptions {
  source: string;
  destination: Destination;
  blockSize: number;
  /** Two-level comparison: pieces of changed blocks compared again (0: off). */
  fineSize: number;
  compress: boolean;
  full: boolean;
  verify: boolean;
  dryRun: boolean;
  /** Bytes per second on the wire, or undefined for no limit. */
  bwlimit: number | undefined;
  /** Local destination: create a missing image file. */
  create: boolean;
  stateDir: string;
  /** Where the digest caches of destinations live. */
  cacheDir: string;
  /** Offer the digest cache to the target (false: --no-cache, --paranoid). A new one is written either way. */
  readCache: boolean;
  /** Syncs in a row the cache may serve before the target reads its copy again. */
  cacheRuns: number;
  /** How to reach a network destination (TLS, or a shared secret in plaintext). */
  security: () => Promise<ClientSecurity>;
  /** How to reach an ssh destination. */
  ssh: SshOptions;
  stats: TransferStats;
  log: (line: string) => void;
  /** --with-dir: directories sent once the copy is confirmed. */
  dirs?: DirSpec[] | undefined;
  /** Names the source to the target (default: this host and the source's real path). */
  sourceId?: string | undefined;
  /** Called once every block is read, before the end of the copy (see SourceOptions.beforeEnd). */
  beforeEnd?: (() => Promise<void>) | undefined;
  /** Copy a source mounted read-write (or used as swap), with a warning, instead of refusing it. */
  allowLive?: boolean | undefined;
  /** Aborting tears the connection down: the sync fails, and the target stays marked incomplete. */
  signal?: AbortSignal | undefined;
}

export interface SyncOutcome {
  source: SourceResult;
  /** Present for a local destination, where this process also ran the target. */
  target: TargetResult | undefined;
}

export async function runSync(o: SyncJobOptions): Promise<SyncOutcome> {
  // A source is remote only as host:/path; any other name (even "disk:1.img") is a local file.
  const remoteSource = parseSshSpec(o.source, "SOURCE");
  if (remoteSource !== undefined) {
    if ((o.dirs ?? []).length > 0) {
      throw invalid("--with-dir", "a local SOURCE (directories go from the source's host)", o.source);
    }
    return pullOverSsh(remoteSource, o);
  }
  await checkLiveSource(o.source, o.allowLive ?? false, o.log);
  const volume = await openVolume(o.source);
  try {
    const sourceId = o.sourceId ?? `${hostname()}:${await realpath(o.source)}`;
    const common = {
      volume,
      sourceId,
      blockSize: o.blockSize,
      fineSize: o.fineSize < o.blockSize ? o.fineSize : 0,
      compress: o.compress,
      full: o.full,
      verify: o.verify,
      dryRun: o.dryRun,
      rateLimiter: o.bwlimit === undefined ? undefined : new RateLimiter(o.bwlimit),
      cache: digestCacheFor(o.destination, o.cacheDir, o.log),
      readCache: o.readCache,
      cacheRuns: o.cacheRuns,
      stats: o.stats,
      log: o.log,
      dirs: o.dirs,
      beforeEnd: o.beforeEnd,
    };
    const dest = o.destination;
    if (dest.kind === "tcp") {
      const socket = await connectSecure(dest.endpoint, await o.security(), o.log);
      const release = destroyOnAbort(o.signal, socket);
      try {
        return {
          source: await runSource({ ...common, channel: new FrameChannel(socket), targetName: dest.targetName }),
          target: undefined,
        };
      } finally {
        release();
        socket.destroy();
      }
    }
    if (dest.kind === "ssh") return { source: await overSsh(dest, o, common), target: undefined };
    await refuseSameFile(o.source, dest.path);
    const pair = memoryPair();
    const release = destroyOnAbort(o.signal, pair.a, pair.b);
    // Named after its path: each local device then has a state file of its own in the state directory.
    const name = localTargetName(resolve(dest.path));
    const targets = targetMap([{ name, path: dest.path }]);
    const allowDirs = (o.dirs ?? []).map((d) => ({ name, dir: d.dest }));
    const target = receiveOne(
      pair.b,
      { targets, create: o.create, stateDir: o.stateDir, allowDirs, log: o.log },
      new TransferStats(),
    );
    const source = runSource({ ...common, channel: new FrameChannel(pair.a), targetName: name });
    const [s, t] = await Promise.allSettled([source, target]);
    release();
    // The target's reason is the one to report when both failed (the source only saw the pipe close).
    if (t.status === "rejected" && (s.status === "rejected" || !(t.reason instanceof BlockferryError))) throw t.reason;
    if (s.status === "rejected") throw s.reason;
    // A local target is never probed: its result is a sync's.
    const received = t.status === "fulfilled" && t.value.mode !== "probe" ? t.value : undefined;
    return { source: s.value, target: received };
  } finally {
    await volume.close();
  }
}

/** The remote end is `blockferry receive --stdio` for that one path, started through ssh. */
async function overSsh(
  dest: { host: string; path: string },
  o: SyncJobOptions,
  common: Omit<SourceOptions, "channel" | "targetName">,
): Promise<SourceResult> {
  const name = localTargetName(dest.path);
  const args = ["receive", "--stdio", "--target", `${name}=${dest.path}`, ...(o.create ? ["--create"] : [])];
  // The user names the directories on the remote host: its receiver may place exactly those.
  for (const dir of o.dirs ?? []) args.push("--allow-dir", `${name}=${dir.dest}`);
  return withRemote(dest.host, args, o.ssh, o.log, async (stream) => {
    const release = destroyOnAbort(o.signal, stream);
    try {
      return await runSource({ ...common, channel: new FrameChannel(stream), targetName: name });
    } finally {
      release();
    }
  });
}

/** Destroys `streams` when `signal` aborts (until the returned function is called). */
export function destroyOnAbort(signal: AbortSignal | undefined, ...streams: Duplex[]): () => void {
  if (signal === undefined) return () => {};
  const abort = () => {
    for (const s of streams) s.destroy(new BlockferryError("E_INTERRUPTED", "interrupted by a signal"));
  };
  if (signal.aborted) abort();
  signal.addEventListener("abort", abort, { once: true });
  return () => signal.removeEventListener("abort", abort);
}

/**
 * Names the volume a destination writes, whatever way it is reached: the digest
 * cache is kept per key, and `run` never runs two jobs with one key at once. Not
 * the port: a receiver started on another port is still the same target (a
 * cache that does not match it is refused by the target anyway, never trusted).
 */
export function destinationKey(dest: Destination): string {
  if (dest.kind === "tcp") return `tcp://${dest.endpoint.host}/${dest.targetName}`;
  if (dest.kind === "ssh") return `ssh://${dest.host}${dest.path}`;
  return resolve(dest.path);
}

/** The digest cache kept for a destination: one file per destination, named by its hash. */
function digestCacheFor(dest: Destination, dir: string, log: (line: string) => void): FileDigestCache {
  return digestCacheAt(dir, destinationKey(dest), log);
}

/** The cache for `key` in `dir`: one file per key, named by its hash. */
export function digestCacheAt(dir: string, key: string, log: (line: string) => void): FileDigestCache {
  const name = `${createHash("sha256").update(key).digest("hex").slice(0, 32)}.digests`;
  return new FileDigestCache(join(dir, name), key, log);
}

/** BLOCKFERRY_CACHE_DIR if set; root keeps caches with the system's, anyone else in their own cache directory. */
export function defaultCacheDir(): string {
  if (process.env.BLOCKFERRY_CACHE_DIR) return process.env.BLOCKFERRY_CACHE_DIR;
  if (process.getuid?.() === 0) return "/var/cache/blockferry";
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "blockferry");
}

async function refuseSameFile(source: string, target: string): Promise<void> {
  const [a, b] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
  if (b !== undefined && a.dev === b.dev && a.ino === b.ino) {
    throw new BlockferryError("E_INVALID_ARG", `DEST: expected another volume than the source, got ${target}`);
  }
}
