/**
 * The source role: sends a volume to a target over a FrameChannel (see the
 * transcript in src/protocol/messages.ts). Batches are read ahead, digested
 * and compressed on worker threads while earlier ones are on the wire; at most
 * two checkpoint intervals travel unacknowledged, so an interruption re-sends
 * at most that much. Memory is a fixed pool of batch buffers.
 */
import { BlockferryError } from "../errors.js";
import { digestBlocks, type Volume } from "../native/index.js";
import type { FrameChannel } from "../protocol/frames.js";
import {
  codecs,
  DIGESTS_AHEAD_BYTES,
  type Done,
  MessageType,
  PROTOCOL_VERSION,
  type Welcome,
} from "../protocol/messages.js";
import { blocksMessage } from "./blocks-message.js";
import { BufferPool } from "./buffer-pool.js";
import type { CachedDigests, CacheWriter, DigestCacheStore } from "./digest-cache.js";
import { type DirReport, type DirSpec, sendDirectories } from "./dir-transfer.js";
import { FINE_MAX_RUN_BLOCKS, FineOffers } from "./fine-offers.js";
import { Fingerprint, fingerprintVolume, foldBatch, foldZeroRun } from "./fingerprint.js";
import { PeerListener, remoteError, tellPeer, unexpected } from "./peer.js";
import type { RateLimiter } from "./rate-limit.js";
import { ReplyQueue } from "./reply-queue.js";
import { BATCH_BYTES, READ_AHEAD, readBatches, type SourceBatch } from "./source-batches.js";
import { TransferStats } from "./stats.js";
import { DigestQueue } from "./target-digests.js";

export interface SourceOptions {
  volume: Volume;
  channel: FrameChannel;
  targetName: string;
  /** Identifies the source volume to the target, so a resume continues the same copy. */
  sourceId: string;
  blockSize: number;
  compress?: boolean;
  /** Copy everything from block 0, ignoring an interrupted copy's progress. */
  full?: boolean;
  /** Ask the target to re-read the copy from disk before it reports success. */
  verify?: boolean;
  /** Compare and count what would be sent; send and change nothing. */
  dryRun?: boolean;
  rateLimiter?: RateLimiter | undefined;
  /**
   * The digests of what the target holds, kept from the last sync: offered to
   * the target (unless `readCache` is false) and rewritten after a verified one.
   */
  cache?: DigestCacheStore | undefined;
  readCache?: boolean;
  /**
   * Syncs in a row that may use the cache; the next has the target read its
   * whole copy again (lost writes, bit rot at rest). Default 6.
   */
  cacheRuns?: number;
  /**
   * Two-level comparison: the pieces of this size inside each changed block
   * are compared too, and only those that differ are sent (0: whole blocks).
   */
  fineSize?: number;
  stats?: TransferStats;
  log?: (line: string) => void;
  /**
   * Wait for the target to close after DONE (default). A source on its own
   * stdout (`send --stdio`) cannot: its end of stream is its process's exit.
   */
  awaitTargetClose?: boolean;
  /** --with-dir: directories sent after the volume is confirmed, placed on the receiving host. */
  dirs?: DirSpec[] | undefined;
  /**
   * Called once every block is read, before END: throws when what was read
   * cannot be trusted (a snapshot that overflowed); the target then stays
   * marked incomplete.
   */
  beforeEnd?: (() => Promise<void>) | undefined;
}

export interface SourceResult {
  fingerprint: string;
  resumedFromBlock: number;
  /** The target held a copy: blocks were compared and only changed ones sent. */
  compared: boolean;
  /** The comparison was against the digest cache: the target read nothing. */
  cached: boolean;
  stats: TransferStats;
  /** --with-dir: what each directory placed on the receiving host held. */
  dirs: DirReport[];
}

export async function runSource(o: SourceOptions): Promise<SourceResult> {
  let offered = o.readCache !== false && !o.full ? await o.cache?.open(o.blockSize, o.volume.size) : undefined;
  if (offered !== undefined && offered.cachedRuns >= (o.cacheRuns ?? DEFAULT_CACHE_RUNS)) {
    o.log?.(`the digest cache served ${offered.cachedRuns} syncs in a row: the target reads its copy this time`);
    await offered.close();
    offered = undefined;
  }
  const cache: CacheUse = { offered, writer: undefined };
  try {
    const result = await sendVolume(o, cache);
    await commitCache(o, cache, result);
    return result;
  } catch (e) {
    await tellPeer(o.channel, e);
    o.channel.destroy(); // nothing waits on a half-open link
    await cache.writer?.abort();
    throw e;
  } finally {
    await offered?.close();
  }
}

interface CacheUse {
  /** The cache offered to the target. */
  offered: CachedDigests | undefined;
  /** The new cache, written as blocks are read. */
  writer: CacheWriter | undefined;
  /** The generation the target gives this sync's copy. */
  generation?: number;
}

const DEFAULT_CACHE_RUNS = 6;

/** After a verified sync the new cache replaces the old; failing to write it costs the next run only time. */
async function commitCache(o: SourceOptions, cache: CacheUse, result: SourceResult): Promise<void> {
  if (cache.writer === undefined || cache.generation === undefined) return;
  try {
    const runs = result.cached ? (cache.offered?.cachedRuns ?? 0) + 1 : 0;
    await cache.writer.commit(cache.generation, Buffer.from(result.fingerprint, "hex"), runs);
  } catch (e) {
    o.log?.(`warning: the digest cache ${o.cache?.path} was not saved: ${(e as Error).message}`);
    await cache.writer.abort();
  }
}

async function sendVolume(o: SourceOptions, cache: CacheUse): Promise<SourceResult> {
  const { volume, channel, blockSize } = o;
  const stats = o.stats ?? new TransferStats();
  const size = volume.size;
  const blockCount = Math.ceil(size / blockSize);
  stats.totalBytes = size;
  const offered = cache.offered;

  await channel.send(
    MessageType.hello,
    codecs.hello.encode({
      version: PROTOCOL_VERSION,
      targetName: o.targetName,
      sourceSize: size,
      blockSize,
      flags: {
        compress: o.compress ?? false,
        full: o.full ?? false,
        verify: o.verify ?? false,
        dryRun: o.dryRun ?? false,
      },
      sourceId: o.sourceId,
      cacheGeneration: offered?.generation ?? 0,
      cacheFingerprint: offered?.fingerprint ?? Buffer.alloc(16),
      fineSize: o.fineSize ?? 0,
      dirs: o.dryRun ? [] : (o.dirs ?? []).map((d) => d.dest),
    }),
  );
  const welcome = await receiveWelcome(channel);
  if (welcome.cached && (offered === undefined || welcome.seed !== offered.seed)) {
    throw new BlockferryError("E_PROTOCOL", "protocol error: the target took up a digest cache not offered");
  }
  if (welcome.cacheRefusal !== "") o.log?.(`the digest cache is not used: ${welcome.cacheRefusal}`);
  stats.cachedDigests = welcome.cached;
  if (welcome.targetSize < size) {
    throw new BlockferryError("E_TARGET_TOO_SMALL", `target is ${welcome.targetSize} bytes, the source ${size}`);
  }
  const batchBlocks = Math.ceil(Math.max(BATCH_BYTES, blockSize) / blockSize);
  if (welcome.checkpointBlocks < batchBlocks || welcome.checkpointBlocks > 2 ** 31) {
    throw new BlockferryError(
      "E_PROTOCOL",
      `protocol error: checkpoint interval of ${welcome.checkpointBlocks} blocks (expected ${batchBlocks} to 2^31)`,
    );
  }
  const seed = welcome.seed;

  // A resumed copy counts only if the part already copied still matches this source.
  let fromBlock = 0;
  const fingerprint = new Fingerprint();
  const dry = o.dryRun ?? false;
  if (welcome.resumeBlock > 0 && !o.full && !dry) {
    if (welcome.resumeBlock > blockCount) throw new BlockferryError("E_PROTOCOL", "target resumes past the end");
    o.log?.(`checking the ${welcome.resumeBlock * blockSize} bytes copied before`);
    const prefixEnd = Math.min(welcome.resumeBlock * blockSize, size);
    const batchBytes = Math.max(BATCH_BYTES, blockSize);
    const prefix = await fingerprintVolume(volume, prefixEnd, blockSize, seed, stats, batchBytes, (bytes) => {
      stats.prefixCheckedBytes = bytes;
    });
    if (prefix.equals(welcome.resumeFingerprint)) {
      fromBlock = welcome.resumeBlock;
      fingerprint.add(prefix.toBuffer());
    } else {
      o.log?.("the source changed since the interrupted copy: starting over");
    }
  }
  stats.resumedFromBytes = stats.doneBytes = stats.ackedBytes = Math.min(fromBlock * blockSize, size);
  await channel.send(MessageType.start, codecs.start.encode({ fromBlock }));

  // What the target acknowledges must match what we sent, checkpoint by checkpoint.
  const sentSums = new Map<number, string>([[fromBlock, fingerprint.hex]]);
  let acked = fromBlock;
  let ackWaiter: (() => void) | undefined;
  let done: Done | undefined;
  let endSent = false;
  let onDone: () => void = () => {};
  const doneReceived = new Promise<void>((resolve) => (onDone = resolve));
  // --with-dir, after DONE: the target's answer to each directory.
  const dirReplies = new ReplyQueue();
  let dirReports: DirReport[] = [];
  // Compare mode: the target's own digests, as they stream in, never further
  // ahead of what we have sent than the protocol allows (memory stays bounded).
  const theirs = welcome.compare || welcome.cached ? new DigestQueue(fromBlock, blockCount) : undefined;
  // Cached mode: the stream's fingerprint covers only the blocks sent (that is
  // what the target can check as it writes); `whole` covers every block, and
  // `replaced` what the cache says the target held where we sent.
  const whole = new Fingerprint(fingerprint.toBuffer());
  const replaced = new Fingerprint();
  const digestsAhead = Math.ceil(DIGESTS_AHEAD_BYTES / blockSize);
  let sent = fromBlock;
  // Two-level comparison (compare mode only): offers awaiting the target's FINE_NEED.
  const fine =
    welcome.compare && (o.fineSize ?? 0) > 0
      ? new FineOffers(
          o.fineSize ?? 0,
          o.compress ?? false,
          stats,
          (...a) => transmit(...a),
          (e) => {
            peer.fail(e);
            channel.destroy();
          },
        )
      : undefined;
  const peer = new PeerListener(
    channel,
    (type, body) => {
      if (type === MessageType.ack) {
        const ack = codecs.ack.decode(body);
        const expected = sentSums.get(ack.blocksDone);
        if (expected === undefined || ack.blocksDone < acked) {
          throw new BlockferryError("E_PROTOCOL", `target acknowledged block ${ack.blocksDone}, not a boundary sent`);
        }
        if (expected !== ack.fingerprint.toString("hex")) {
          throw new BlockferryError(
            "E_VERIFY",
            `target's copy of blocks before ${ack.blocksDone} differs from the source`,
          );
        }
        for (const k of sentSums.keys()) if (k < ack.blocksDone) sentSums.delete(k);
        acked = ack.blocksDone;
        stats.ackedBytes = Math.min(acked * blockSize, size);
        ackWaiter?.();
      } else if (type === MessageType.digests && welcome.compare) {
        const d = codecs.digests.decode(body);
        if (d.firstBlock + d.count > sent + digestsAhead) {
          throw new BlockferryError(
            "E_PROTOCOL",
            `protocol error: DIGESTS up to block ${d.firstBlock + d.count}, far ahead of ${sent}`,
          );
        }
        theirs?.add(d);
        stats.digestBytes += body.length + 5;
      } else if (type === MessageType.fineNeed && fine !== undefined) {
        fine.answer(codecs.fineNeed.decode(body));
      } else if (type === MessageType.done) {
        if (!endSent) throw new BlockferryError("E_PROTOCOL", "protocol error: DONE before END");
        done = codecs.done.decode(body);
        stats.targetReadBytes = done.targetReadBytes;
        stats.targetWriteSeconds = done.targetWriteMs / 1000;
        onDone();
      } else if (type === MessageType.dirDone && done !== undefined) {
        dirReplies.push(body);
      } else {
        throw unexpected(type, "from a target during a copy");
      }
    },
    "target",
    () => done !== undefined,
  );
  // At most two checkpoint intervals of data travel unacknowledged, so an
  // interruption re-sends at most that. Zero runs are a few bytes on the wire
  // and always go; a wait always has over one interval in flight, so the
  // target is bound to reach a checkpoint and acknowledge it.
  const limit = 2 * welcome.checkpointBlocks;
  const waitForWindow = async (end: number, sent: number) => {
    const started = performance.now();
    while (end - acked > limit && acked < sent) {
      await Promise.race([new Promise<void>((r) => (ackWaiter = r)), peer.failed()]);
    }
    stats.waitSeconds += (performance.now() - started) / 1000;
  };

  // Every message goes out through here: the rate limit, then the wire.
  const transmit = async (type: MessageType, body: Buffer[], onFlushed?: () => void) => {
    await o.rateLimiter?.take(body.reduce((n, b) => n + b.length, 5));
    await channel.send(type, body, onFlushed);
    stats.wireBytes = channel.bytesSent;
  };
  // A message that covers blocks up to `end`, adding `sum` to what the target must acknowledge.
  const send = async (type: MessageType, body: Buffer[], end: number, sum: Buffer, onFlushed?: () => void) => {
    if (type === MessageType.blocks || type === MessageType.fineOffer) await waitForWindow(end, sent);
    fingerprint.add(sum);
    sentSums.set(end, fingerprint.hex);
    sent = end;
    stats.doneBytes = Math.min(end * blockSize, size);
    await transmit(type, body, onFlushed);
  };

  // Runs of blocks the target need not be sent (zeros, or blocks it already
  // holds) merge across batches into one ZERO_RUN or SAME_RUN message.
  let run: { type: "zero" | "same"; first: number; count: number; sum: Fingerprint } | undefined;
  const flushRun = async () => {
    if (run === undefined) return;
    const { type, first, count, sum } = run;
    run = undefined;
    const [message, codec] =
      type === "zero" ? [MessageType.zeroRun, codecs.zeroRun] : [MessageType.sameRun, codecs.sameRun];
    await send(message, codec.encode({ firstBlock: first, count }), first + count, sum.toBuffer());
  };
  const addRun = async (type: "zero" | "same", first: number, count: number, sum: Buffer, counted = true) => {
    const bytes = Math.min((first + count) * blockSize, size) - first * blockSize;
    if (counted && type === "zero") stats.zeroBytes += bytes;
    else if (counted) stats.sameBytes += bytes;
    if (run?.type !== type || run.first + run.count !== first) {
      await flushRun();
      run = { type, first, count: 0, sum: new Fingerprint() };
    }
    run.count += count;
    run.sum.add(sum);
  };

  const zeros = await zeroDigests(size, blockSize, seed);
  // A resumed copy has no digests of the part sent before: the next run compares instead.
  if (o.cache !== undefined && !dry && fromBlock === 0) {
    cache.writer = await o.cache.create(blockSize, size, seed).catch((e: unknown) => {
      o.log?.(`warning: no digest cache this time: ${(e as Error).message}`);
      return undefined;
    });
    cache.generation = welcome.generation;
  }
  const compress = o.compress ?? false;
  const pool = new BufferPool(READ_AHEAD + 2, () => volume.allocBuffer(Math.max(BATCH_BYTES, blockSize)));
  try {
    const batches = readBatches({
      volume,
      fromBlock,
      blockSize,
      seed,
      batchBytes: Math.max(BATCH_BYTES, blockSize),
      depth: READ_AHEAD,
      pool,
      stats,
      // In compare mode only changed blocks are compressed, once they are known.
      compress: compress && theirs === undefined,
    });
    for await (const read of batches) {
      await recordDigests(cache, read, zeros, blockCount, o.log);
      for (const batch of piecesOf(read, theirs === undefined ? Number.POSITIVE_INFINITY : batchBlocks)) {
        if (peer.failure) throw peer.failure;
        const end = batch.firstBlock + batch.count;
        if (welcome.cached && theirs !== undefined) await offered?.fill(theirs, end);
        if (theirs !== undefined) {
          const waited = performance.now();
          await theirs.cover(end, peer.failed());
          stats.waitSeconds += (performance.now() - waited) / 1000;
        }
        stats.comparedBlocks += batch.count;
        // Messages referring to the batch's buffer: it goes back to the pool when the last is flushed.
        let holders = 1;
        const releaseOne = () => {
          if (--holders === 0 && batch.kind === "data") batch.release();
        };
        for (const seg of segments(batch, blockSize, size, theirs, zeros)) {
          const [first, count] = [seg.first, seg.count];
          if (dry) {
            // Count what would travel, then tell the target only how far we got.
            if (!seg.same) countWouldSend(batch, first, count, blockSize, size, stats);
            await addRun("same", first, count, Buffer.alloc(16), seg.same);
            continue;
          }
          const sum =
            batch.kind === "hole"
              ? await foldZeroRun(first, count, blockSize, size, seed)
              : await foldBatch(batch.digests.subarray((first - batch.firstBlock) * 16), count, first, seed);
          whole.add(sum);
          if (seg.same) {
            await addRun("same", first, count, welcome.cached ? ZERO16 : sum);
            continue;
          }
          if (welcome.cached && theirs !== undefined)
            replaced.add(await theirs.fold(first, count, blockSize, size, seed));
          stats.changedBlocks += count;
          const at = first - batch.firstBlock;
          if (batch.kind === "hole" || batch.zero.subarray(at, at + count).every((z) => z === 1)) {
            await addRun("zero", first, count, sum);
            continue;
          }
          await flushRun();
          // A long run of changed blocks is a rewrite, not scattered writes: whole blocks
          // cost the same bytes without the target reading them first.
          if (fine !== undefined && batch.kind === "data" && count <= FINE_MAX_RUN_BLOCKS) {
            // Offer the pieces' digests; the pieces the target lacks go once it says which. The
            // offer keeps a copy, so the batch's buffer goes back to the read-ahead now rather
            // than after the target's answer.
            const end = Math.min((at + count) * blockSize, batch.length);
            await fine.room(end - at * blockSize, peer.failed());
            const offer = await fine.offer(first, count, Buffer.from(batch.buffer.subarray(at * blockSize, end)), seed);
            await send(MessageType.fineOffer, offer, first + count, sum);
            continue;
          }
          holders++;
          const message = await blocksMessage(batch, at, count, blockSize, compress, stats);
          await send(MessageType.blocks, codecs.blocks.encode(message), first + count, sum, releaseOne);
        }
        releaseOne();
        if (theirs !== undefined) {
          // The target streams digests only so far ahead of its progress: report ours each batch.
          await flushRun();
          theirs.dropBefore(end);
        }
      }
    }
    await flushRun();
    await fine?.drained(peer.failed()); // every offer answered and its pieces sent before END
    if (!dry) await o.beforeEnd?.();
    endSent = true;
    const end = { blockCount, fingerprint: whole.toBuffer(), replaced: replaced.toBuffer() };
    await send(MessageType.end, codecs.end.encode(end), blockCount, ZERO16);
    // END adds nothing to the sum: it was recorded above only to keep `send` uniform.
    await Promise.race([doneReceived, peer.finished, peer.failed()]);
    if (!dry && done?.verified && o.dirs !== undefined && o.dirs.length > 0) {
      const io = { send: transmit, reply: () => Promise.race([dirReplies.next(), peer.failed()]) };
      dirReports = await sendDirectories(io, o.dirs, o.log ?? (() => {}));
    }
    // Our end of the stream tells the target we have read DONE; it then closes too.
    await channel.end();
    if (o.awaitTargetClose !== false) await Promise.race([peer.finished, peer.failed()]);
  } catch (e) {
    throw peer.explain(e);
  }
  if (peer.failure) throw peer.failure;
  const compared = welcome.compare || welcome.cached;
  if (dry && done !== undefined) {
    return { fingerprint: "0".repeat(32), resumedFromBlock: 0, compared, cached: welcome.cached, stats, dirs: [] };
  }
  if (done === undefined)
    throw new BlockferryError("E_NETWORK", "the target closed the connection before confirming the copy");
  if (!done.verified || !whole.equals(done.fingerprint)) {
    throw new BlockferryError(
      "E_VERIFY",
      `the copy's fingerprint ${done.fingerprint.toString("hex")} differs from the source's ${whole.hex}; the target stays marked incomplete`,
    );
  }
  return {
    fingerprint: whole.hex,
    resumedFromBlock: fromBlock,
    compared,
    cached: welcome.cached,
    stats,
    dirs: dirReports,
  };
}

const ZERO16 = Buffer.alloc(16);

/** Adds a batch's digests (a hole's: the zero block's) to the new digest cache; a failure only drops the cache. */
async function recordDigests(
  cache: CacheUse,
  batch: SourceBatch,
  zeros: { full: Buffer; tail: Buffer },
  blockCount: number,
  log: ((line: string) => void) | undefined,
): Promise<void> {
  const writer = cache.writer;
  if (writer === undefined) return;
  try {
    if (batch.kind === "data") {
      await writer.add(batch.digests.subarray(0, batch.count * 16));
    } else {
      const last = batch.firstBlock + batch.count === blockCount;
      await writer.repeat(zeros.full, last ? batch.count - 1 : batch.count);
      if (last) await writer.repeat(zeros.tail, 1);
    }
  } catch (e) {
    log?.(`warning: no digest cache this time: ${(e as Error).message}`);
    cache.writer = undefined;
    await writer.abort();
  }
}

async function receiveWelcome(channel: FrameChannel): Promise<Welcome> {
  const frame = await channel.receive();
  if (frame === undefined)
    throw new BlockferryError("E_NETWORK", "the target closed the connection during the handshake");
  if (frame.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), "target refused");
  if (frame.type !== MessageType.welcome) throw unexpected(frame.type, "instead of WELCOME");
  return codecs.welcome.decode(frame.body);
}

/**
 * In compare mode a hole run is cut into pieces of at most one batch, so that
 * the source never waits for digests further ahead than the target may send.
 */
function* piecesOf(batch: SourceBatch, maxBlocks: number): Generator<SourceBatch> {
  if (batch.kind === "data" || batch.count <= maxBlocks) {
    yield batch;
    return;
  }
  for (let at = 0; at < batch.count; at += maxBlocks) {
    yield { kind: "hole", firstBlock: batch.firstBlock + at, count: Math.min(maxBlocks, batch.count - at) };
  }
}

/** Dry run: what sending these changed blocks would cost, in the stats. */
function countWouldSend(
  batch: SourceBatch,
  first: number,
  count: number,
  blockSize: number,
  size: number,
  stats: TransferStats,
): void {
  stats.changedBlocks += count;
  for (let b = first; b < first + count; b++) {
    const n = Math.min(blockSize, size - b * blockSize);
    if (batch.kind === "hole" || batch.zero[b - batch.firstBlock] === 1) stats.zeroBytes += n;
    else stats.rawBytes += n;
  }
}

interface Segment {
  first: number;
  count: number;
  /** The target holds these blocks already. */
  same: boolean;
}

/** Digests of an all-zero full block and of the volume's short last block (if any). */
async function zeroDigests(size: number, blockSize: number, seed: bigint): Promise<{ full: Buffer; tail: Buffer }> {
  const tailBytes = size % blockSize || blockSize;
  const full = (await digestBlocks(Buffer.alloc(blockSize), blockSize, seed)).digests;
  const tail = (await digestBlocks(Buffer.alloc(tailBytes), blockSize, seed)).digests;
  return { full, tail };
}

/**
 * Splits a batch into runs of blocks the target holds already and runs it
 * does not. Without the target's digests (a copy), all of it is one run to send.
 */
function segments(
  batch: SourceBatch,
  blockSize: number,
  size: number,
  theirs: DigestQueue | undefined,
  zeros: { full: Buffer; tail: Buffer },
): Segment[] {
  if (theirs === undefined) return [{ first: batch.firstBlock, count: batch.count, same: false }];
  const last = Math.ceil(size / blockSize) - 1;
  const out: Segment[] = [];
  for (let i = 0; i < batch.count; i++) {
    const b = batch.firstBlock + i;
    const target = theirs.at(b);
    let same: boolean;
    if (batch.kind === "hole") {
      same = target === "zero" || target.equals(b === last ? zeros.tail : zeros.full);
    } else if (target === "zero") {
      same = batch.zero[i] === 1;
    } else {
      same = target.equals(batch.digests.subarray(i * 16, i * 16 + 16));
    }
    const prev = out.at(-1);
    if (prev !== undefined && prev.same === same) prev.count++;
    else out.push({ first: b, count: 1, same });
  }
  return out;
}
