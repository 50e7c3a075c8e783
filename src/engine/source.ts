/**
 * The source role: sends a volume to a target over a FrameChannel (see the
 * transcript in src/protocol/messages.ts). Batches are read ahead, digested
 * and compressed on worker threads while earlier ones are on the wire
 * (volume-reader.ts); each becomes messages (source-session.ts); at most two
 * checkpoint intervals travel unacknowledged, so an interruption re-sends at
 * most that much. Memory is a fixed pool of batch buffers. After a verified
 * sync the digests of every block the target now holds become the digest
 * cache of the next sync.
 */
import { DIGEST_SIZE, digestBlocks } from "../native/index.js";
import { mark } from "../timeline.js";
import { formatBytes } from "../units.js";
import { BufferPool } from "./buffer-pool.js";
import type { CachedDigests, CacheWriter } from "./digest-cache.js";
import { DigestQueue } from "./digest-queue.js";
import { tellPeer } from "./peer.js";
import { SourceSession, type ZeroDigests } from "./source-session.js";
import { rangeBytes, trackedRanges } from "./source-tracked.js";
import type { SourceOptions, SourceResult } from "./source-types.js";
import { readRanges } from "./span-reader.js";
import { TransferStats } from "./stats.js";
import { BATCH_BYTES, READ_AHEAD, type ReadPlan, readBatches, type SourceBatch } from "./volume-reader.js";

export type { SourceOptions, SourceResult } from "./source-types.js";

const DEFAULT_CACHE_RUNS = 6;

export async function runSource(o: SourceOptions): Promise<SourceResult> {
  const options = { ...o, stats: o.stats ?? new TransferStats() };
  const offered = await openCache(options);
  let writer: CacheWriter | undefined;
  let session: SourceSession | undefined;
  try {
    session = await SourceSession.open(options, offered, (seed) => zeroDigests(o.volume.size, o.blockSize, seed));
    const { welcome } = session;
    // A resumed copy has no digests of the part sent before: the next run compares instead.
    if (o.cache !== undefined && !o.dryRun && session.fromBlock === 0) {
      writer = await o.cache.create(o.blockSize, o.volume.size, welcome.seed).catch((e: unknown) => {
        o.log?.(`warning: no digest cache this time: ${(e as Error).message}`);
        return undefined;
      });
    }
    writer = await sendAll(options, session, writer, offered);
    const result = await session.finish();
    mark("source finished");
    if (writer !== undefined) await commitCache(o, writer, offered, welcome.generation, result);
    mark("cache saved");
    return result;
  } catch (e) {
    const error = session?.explain(e) ?? e;
    await tellPeer(o.channel, error);
    o.channel.destroy(); // nothing waits on a half-open link
    await writer?.abort();
    throw error;
  } finally {
    await offered?.close();
  }
}

/** The digest cache to offer, unless it served cacheRuns syncs in a row (the target then reads its copy). */
async function openCache(o: SourceOptions): Promise<CachedDigests | undefined> {
  const offered = o.readCache !== false && !o.full ? await o.cache?.open(o.blockSize, o.volume.size) : undefined;
  if (offered !== undefined && offered.cachedRuns >= (o.cacheRuns ?? DEFAULT_CACHE_RUNS)) {
    o.log?.(`the digest cache served ${offered.cachedRuns} syncs in a row: the target reads its copy this time`);
    await offered.close();
    return undefined;
  }
  return offered;
}

/** Reads the volume from the session's start (or, change-tracked, only the changed blocks) and sends it. */
async function sendAll(
  o: SourceOptions,
  session: SourceSession,
  cache: CacheWriter | undefined,
  offered: CachedDigests | undefined,
): Promise<CacheWriter | undefined> {
  const { volume, blockSize } = o;
  const batchBytes = Math.max(BATCH_BYTES, blockSize);
  const pool = new BufferPool(READ_AHEAD + 2, () => volume.allocBuffer(batchBytes));
  const blockCount = Math.ceil(volume.size / blockSize);
  const plan: ReadPlan = {
    volume,
    blockSize,
    seed: session.welcome.seed,
    batchBytes,
    depth: READ_AHEAD,
    pool,
    stats: o.stats as TransferStats,
    // When comparing, only changed blocks are compressed, once they are known.
    compress: (o.compress ?? false) && !session.welcome.compare && !session.welcome.cached,
    limiter: o.readLimiter,
  };
  let writer = cache;
  const send = async (batch: SourceBatch) => {
    writer = await recordDigests(writer, batch, session.zeros, blockCount, o.log);
    await session.sendBatch(batch);
  };
  const ranges = trackedRanges(o, offered, session);
  if (ranges === undefined) {
    for await (const batch of readBatches({ ...plan, fromBlock: session.fromBlock })) await send(batch);
    return writer;
  }
  const stats = o.stats as TransferStats;
  stats.changesFromThinDelta = true;
  stats.diffSeconds = o.changes?.diffSeconds ?? 0;
  o.log?.(`change tracking: thin_delta found ${formatBytes(rangeBytes(ranges, blockSize))} to read`);
  // The new cache takes the old one's digests of blocks not read: a queue of its own, filled as the session's is.
  const mine = new DigestQueue(0, blockCount);
  const known = async (first: number, end: number) => {
    if (first >= end) return;
    // A piece at a time (64Ki blocks): the digests of a whole volume need not sit in memory.
    for (let at = first; at < end && writer !== undefined; at += 65536) {
      const to = Math.min(end, at + 65536);
      await offered?.fill(mine, to);
      writer = await recordKnown(writer, mine.digestsOf(at, to - at), o.log);
      mine.dropBefore(to);
    }
    await session.sendBatch({ kind: "known", firstBlock: first, count: end - first });
  };
  // One read pipeline over every range to read: reads stay in flight from one range into the next.
  const reads = readRanges(
    plan,
    ranges.filter((r) => r.kind === "read"),
  );
  try {
    let at = 0;
    for (const r of ranges) {
      await known(at, r.first);
      at = r.first + r.count;
      if (r.kind !== "read") await send({ kind: "hole", firstBlock: r.first, count: r.count });
      else
        for (let next = r.first; next < Math.min(at, blockCount); ) {
          const { value } = await reads.next();
          if (value === undefined) throw new Error(`change tracking: no read for block ${next}`);
          await send(value);
          next = value.firstBlock + value.count;
        }
    }
    await known(at, blockCount);
  } finally {
    await reads.return(undefined);
  }
  return writer;
}

/** Adds digests taken from the old cache (blocks change tracking did not read) to the new one. */
async function recordKnown(
  writer: CacheWriter | undefined,
  digests: Buffer[],
  log: ((line: string) => void) | undefined,
): Promise<CacheWriter | undefined> {
  if (writer === undefined) return undefined;
  try {
    for (const d of digests) await writer.add(d);
    return writer;
  } catch (e) {
    log?.(`warning: no digest cache this time: ${(e as Error).message}`);
    await writer.abort();
    return undefined;
  }
}

/** After a verified sync the new cache replaces the old; failing to write it costs the next run only time. */
async function commitCache(
  o: SourceOptions,
  writer: CacheWriter,
  offered: CachedDigests | undefined,
  generation: number,
  result: SourceResult,
): Promise<void> {
  try {
    const runs = result.cached ? (offered?.cachedRuns ?? 0) + 1 : 0;
    await writer.commit(generation, Buffer.from(result.fingerprint, "hex"), runs);
  } catch (e) {
    o.log?.(`warning: the digest cache ${o.cache?.path} was not saved: ${(e as Error).message}`);
    await writer.abort();
  }
}

/** Adds a batch's digests (a hole's: the zero block's) to the new digest cache; a failure only drops the cache. */
async function recordDigests(
  writer: CacheWriter | undefined,
  batch: SourceBatch,
  zeros: ZeroDigests,
  blockCount: number,
  log: ((line: string) => void) | undefined,
): Promise<CacheWriter | undefined> {
  if (writer === undefined) return undefined;
  try {
    if (batch.kind === "data") {
      await writer.add(batch.digests.subarray(0, batch.count * DIGEST_SIZE));
    } else {
      const last = batch.firstBlock + batch.count === blockCount;
      await writer.repeat(zeros.full, last ? batch.count - 1 : batch.count);
      if (last) await writer.repeat(zeros.tail, 1);
    }
    return writer;
  } catch (e) {
    log?.(`warning: no digest cache this time: ${(e as Error).message}`);
    await writer.abort();
    return undefined;
  }
}

/** Digests of an all-zero full block and of the volume's short last block (if any). */
async function zeroDigests(size: number, blockSize: number, seed: bigint): Promise<ZeroDigests> {
  const tailBytes = size % blockSize || blockSize;
  const full = (await digestBlocks(Buffer.alloc(blockSize), blockSize, seed)).digests;
  const tail = (await digestBlocks(Buffer.alloc(tailBytes), blockSize, seed)).digests;
  return { full, tail };
}
