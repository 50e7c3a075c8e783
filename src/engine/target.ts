/**
 * The target role: receives a volume from a source over a FrameChannel (see
 * src/protocol/messages.ts) and writes it. Nothing is written before the
 * handshake has checked the target; the state file says "incomplete" before
 * the first write and "complete" only after the fingerprints matched. Blocks
 * are decoded and digested on worker threads and written behind the network
 * (two batches in flight); every checkpoint interval the volume is synced,
 * the state saved and the progress acknowledged.
 */
import { randomBytes } from "node:crypto";
import { BlockferryError } from "../errors.js";
import { BlockKind, DIGEST_SIZE, decodeBlocks, digestBlocks, type Volume } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import type { Frame, FrameChannel } from "../protocol/frames.js";
import {
  type Blocks,
  codecs,
  type FineOffer,
  type Hello,
  MAX_BLOCKS_BYTES,
  MessageType,
  PROTOCOL_VERSION,
  type SameRun,
  type ZeroRun,
} from "../protocol/messages.js";
import { BufferPool } from "./buffer-pool.js";
import { type DirReport, receiveDirectories } from "./dir-transfer.js";
import { Fingerprint, fingerprintVolume, foldBatch, foldZeroRun } from "./fingerprint.js";
import { remoteError, unexpected } from "./peer.js";
import { answerProbe, checkProbeHello } from "./probe-target.js";
import type { TargetState, TargetStateStore } from "./state.js";
import { TransferStats } from "./stats.js";
import { streamDigests } from "./stream-digests.js";
import { DigestQueue } from "./target-digests.js";

/** Bytes between checkpoints (sync, state saved, ACK): the most an interruption loses. */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Bytes of offered blocks the target keeps between its answer and the pieces (beyond it, it reads them again). */
const KEPT_OFFER_BYTES = 32 * 1024 * 1024;
const WRITES_IN_FLIGHT = 2;
/** Offers outstanding (read, answered or awaiting their pieces) past which the receive loop waits for the answers. */
const OFFERS_OUTSTANDING = 64;

/** A two-level offer answered (or being read for its answer), whose pieces are still to come. */
interface Offered {
  first: number;
  count: number;
  /** The pieces asked for, once answered. */
  pieces: number[];
  /** The blocks as read for the answer, when kept for the pieces: patched and written from there. */
  read: Buffer | undefined;
  answered: boolean;
  /** The fingerprint of every block before `first`: what an acknowledgement there reports. */
  before: Fingerprint;
}

export interface OpenedTarget {
  /** Opened for writing. */
  volume: Volume;
  state: TargetStateStore;
  /** Identifies the volume across runs; a state saved for another volume is not resumed. */
  identity: string;
  /** For logs: the configured name and the path. */
  describe: string;
  /**
   * The volume's change stamp now (src/job/identity.ts); undefined when it
   * cannot be told. `seal`: taken to be recorded, after the last write.
   */
  stamp: (seal?: boolean) => Promise<string | undefined>;
  /** --with-dir: throws unless this peer may place a directory at `dest` (asked right before each). */
  checkDir?: (dest: string) => Promise<void>;
}

/** Looks the requested target up and opens it, or throws the refusal to send back. */
export type TargetResolver = (hello: Hello) => Promise<OpenedTarget>;

export interface TargetOptions {
  channel: FrameChannel;
  resolve: TargetResolver;
  checkpointBytes?: number | undefined;
  /** Compare mode: how far the digests may run ahead of the source (tests shrink it). */
  digestsAheadBytes?: number | undefined;
  stats?: TransferStats;
  log?: (line: string) => void;
}

export interface TargetResult {
  /** copy: everything sent; compare: the target's digests; cached: the source's digest cache; probe: nothing written (bench --to). */
  mode: "copy" | "compare" | "cached" | "probe";
  target: string;
  sourceId: string;
  fingerprint: string;
  verified: boolean;
  resumedFromBlock: number;
  stats: TransferStats;
  /** --with-dir: the directories placed here after the copy was confirmed. */
  dirs: DirReport[];
}

export async function runTarget(o: TargetOptions): Promise<TargetResult> {
  const { channel } = o;
  let opened: OpenedTarget | undefined;
  try {
    const hello = await receiveHello(channel);
    if (hello.flags.probe) checkProbeHello(hello);
    opened = await o.resolve(hello);
    // bench --to: authorized and resolved as for a copy, then nothing written or recorded.
    if (hello.flags.probe) return await answerProbe(channel, hello, opened, o.stats, o.log);
    if (opened.volume.size < hello.sourceSize && opened.volume.info.isBlockDevice) {
      throw new BlockferryError(
        "E_TARGET_TOO_SMALL",
        `target ${opened.describe} is ${opened.volume.size} bytes, the source ${hello.sourceSize}`,
      );
    }
    return await receiveCopy(o, hello, opened);
  } catch (e) {
    if (opened !== undefined) await leave(opened);
    const error = named(
      e instanceof BlockferryError ? e : new BlockferryError("E_INTERNAL", String(e), { cause: e }),
      opened,
    );
    await channel
      .send(MessageType.error, codecs.error.encode({ code: error.code, message: error.message }))
      .catch(() => {});
    await channel.end().catch(() => {});
    throw error;
  } finally {
    await opened?.volume.close();
  }
}

/** The volume's own failures (full, I/O error, read-only) say which target: the message reaches the source too. */
function named(e: BlockferryError, opened: OpenedTarget | undefined): BlockferryError {
  const own = ["E_NO_SPACE", "E_IO", "E_READ_ONLY", "E_ACCESS", "E_NO_MEMORY"].includes(e.code);
  if (opened === undefined || !own || e.message.includes(opened.describe)) return e;
  return new BlockferryError(e.code, `${opened.describe}: ${e.message}`, {
    errno: e.errno,
    op: e.op,
    offset: e.offset,
    cause: e,
  });
}

/** A failed sync no longer writes: the state stops naming this process (status then says "interrupted"). */
async function leave(opened: OpenedTarget): Promise<void> {
  try {
    const state = await opened.state.load();
    if (state?.writerPid !== process.pid) return;
    state.writerPid = undefined;
    await opened.state.save(state);
  } catch {
    // The state stays as it was: status may call a dead sync "running" until this process exits.
  }
}

/** The source's next frame; its ERROR is thrown as the source's failure (with its reason). */
async function fromSource(channel: FrameChannel): Promise<Frame | undefined> {
  const frame = await channel.receive();
  if (frame?.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), "source");
  return frame;
}

async function receiveHello(channel: FrameChannel): Promise<Hello> {
  const frame = await fromSource(channel);
  if (frame === undefined) throw new BlockferryError("E_NETWORK", "the source closed the connection before HELLO");
  if (frame.type !== MessageType.hello) throw unexpected(frame.type, "instead of HELLO");
  const hello = codecs.hello.decode(frame.body);
  if (hello.version !== PROTOCOL_VERSION) {
    throw new BlockferryError(
      "E_VERSION",
      `the source speaks protocol version ${hello.version}; this receiver speaks version ${PROTOCOL_VERSION}`,
    );
  }
  return hello;
}

function resumable(state: TargetState | undefined, hello: Hello, opened: OpenedTarget): state is TargetState {
  return (
    state !== undefined &&
    state.targetId === opened.identity &&
    !state.complete &&
    state.mode === "copy" &&
    !hello.flags.full &&
    state.blocksDone > 0 &&
    state.sourceId === hello.sourceId &&
    state.sourceSize === hello.sourceSize &&
    state.blockSize === hello.blockSize &&
    opened.volume.size >= hello.sourceSize
  );
}

/**
 * Why the source's digest cache cannot stand for this target, or "" when it
 * can: the target's record must be of a completed sync of this very volume,
 * of the cache's generation and fingerprint, and the volume must not have
 * been written since (its change stamp is the one recorded then).
 */
function cacheRefusal(saved: TargetState | undefined, hello: Hello, opened: OpenedTarget, stamp: string | undefined) {
  if (saved === undefined || saved.targetId !== opened.identity) return "the target has no record of that sync";
  if (!saved.complete || !saved.verified) return "the last sync to the target did not complete";
  if (saved.generation !== hello.cacheGeneration) {
    return `the target holds generation ${saved.generation} of its copy, the cache generation ${hello.cacheGeneration}`;
  }
  if (saved.sourceSize !== hello.sourceSize || saved.blockSize !== hello.blockSize) {
    return "the volume size or block size changed since";
  }
  if (saved.fingerprint !== hello.cacheFingerprint.toString("hex"))
    return "the cache does not match the target's record";
  if (stamp === undefined) return "the target cannot tell whether it was written since";
  if (saved.stamp !== stamp) return "the target was written outside blockferry since the last sync";
  return "";
}

/**
 * Whether blocks [0, blocksDone) of an interrupted copy still hold what was
 * acknowledged: certain without reading when the volume's stamp is the one
 * taken after the copy's last write; otherwise they are read again and their
 * fingerprint compared (a receiver killed outright leaves no stamp; a mount
 * of the half-written copy, even read-only, can replay a journal into it).
 */
async function prefixIntact(
  saved: TargetState,
  stampNow: string | undefined,
  opened: OpenedTarget,
  stats: TransferStats,
  log: ((line: string) => void) | undefined,
): Promise<boolean> {
  if (stampNow !== undefined && saved.pausedStamp === stampNow) return true;
  const end = Math.min(saved.blocksDone * saved.blockSize, saved.sourceSize);
  log?.(`${opened.describe}: reading the ${end} bytes copied before the interruption again, to check them`);
  const batchBytes = Math.max(MAX_BLOCKS_BYTES, saved.blockSize);
  const sum = await fingerprintVolume(opened.volume, end, saved.blockSize, BigInt(saved.seed), stats, batchBytes);
  if (sum.hex === saved.fingerprint) return true;
  log?.(`${opened.describe}: the part copied before the interruption changed since; comparing from the start`);
  return false;
}

/** Whether the target holds anything worth comparing: a block device, or an image with data. */
async function holdsData(volume: Volume, sourceSize: number): Promise<boolean> {
  if (volume.info.isBlockDevice) return true;
  const span = Math.min(volume.size, sourceSize);
  return span > 0 && (await volume.dataExtents(0, span, 1)).extents.length > 0;
}

/** An image file must be able to reach the source's size: grown and put back before anything is promised. */
async function probeGrowth(opened: OpenedTarget, size: number): Promise<void> {
  const { volume } = opened;
  const original = volume.size;
  if (volume.info.isBlockDevice || size <= original) return;
  try {
    await volume.setSize(size);
  } catch (e) {
    throw new BlockferryError(
      "E_TARGET_TOO_SMALL",
      `target ${opened.describe} cannot grow to ${size} bytes: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    await volume.setSize(original).catch(() => {});
  }
}

async function receiveCopy(o: TargetOptions, hello: Hello, opened: OpenedTarget): Promise<TargetResult> {
  const { channel } = o;
  const { volume } = opened;
  const { blockSize, sourceSize } = hello;
  const stats = o.stats ?? new TransferStats();
  stats.totalBytes = sourceSize;
  const blockCount = Math.ceil(sourceSize / blockSize);
  // At least one batch per interval, or the source's window could not move.
  const checkpointBytes = Math.max(o.checkpointBytes ?? CHECKPOINT_BYTES, MAX_BLOCKS_BYTES, blockSize);
  const checkpointBlocks = Math.floor(checkpointBytes / blockSize);

  // Taken before anything here could touch the volume (growing an image does).
  const stampBefore = await opened.stamp();
  await probeGrowth(opened, sourceSize);
  const saved = await opened.state.load();
  const resume = resumable(saved, hello, opened) && (await prefixIntact(saved, stampBefore, opened, stats, o.log));
  const refusal = hello.cacheGeneration > 0 && !hello.flags.full ? cacheRefusal(saved, hello, opened, stampBefore) : "";
  // The source's cache stands for our digests: we read nothing.
  const cached = hello.cacheGeneration > 0 && !hello.flags.full && refusal === "" && saved !== undefined;
  if (refusal !== "") o.log?.(`${opened.describe}: the source's digest cache is not used: ${refusal}`);
  // An earlier copy, complete or not, is compared and only the differences sent.
  const compare = !resume && !cached && !hello.flags.full && (await holdsData(volume, sourceSize));
  const seed = resume || cached ? BigInt(saved.seed) : randomBytes(8).readBigUInt64BE();
  const generation = (saved?.generation ?? 0) + 1;
  const resumeBlock = resume ? saved.blocksDone : 0;
  const resumeSum = resume ? Buffer.from(saved.fingerprint, "hex") : Buffer.alloc(16);
  await channel.send(
    MessageType.welcome,
    codecs.welcome.encode({
      version: PROTOCOL_VERSION,
      targetSize: volume.info.isBlockDevice ? volume.size : Math.max(volume.size, sourceSize),
      sectorSize: volume.info.sectorSize,
      isBlockDevice: volume.info.isBlockDevice,
      compare,
      cached,
      seed,
      resumeBlock,
      resumeFingerprint: resumeSum,
      checkpointBlocks,
      generation,
      cacheRefusal: refusal,
    }),
  );

  const startFrame = await fromSource(channel);
  if (startFrame === undefined) throw new BlockferryError("E_NETWORK", "the source closed the connection before START");
  if (startFrame.type !== MessageType.start) throw unexpected(startFrame.type, "instead of START");
  const { fromBlock } = codecs.start.decode(startFrame.body);
  if (fromBlock !== 0 && fromBlock !== resumeBlock) {
    throw new BlockferryError("E_PROTOCOL", `protocol error: START at block ${fromBlock}, offered ${resumeBlock}`);
  }
  o.log?.(
    fromBlock > 0
      ? `${opened.describe}: resuming at byte ${fromBlock * blockSize} of ${sourceSize}`
      : `${opened.describe}: ${cached ? "updating (digests from the source's cache)" : compare ? "comparing with" : "receiving"} ${sourceSize} bytes from ${hello.sourceId}`,
  );

  // From here on the target's bytes change: it is marked incomplete first.
  // A dry run changes nothing: no state, no size, no writes.
  const dry = hello.flags.dryRun;
  const now = () => new Date().toISOString();
  const fingerprint = new Fingerprint(fromBlock > 0 ? resumeSum : undefined);
  const state: TargetState = {
    version: 1,
    complete: false,
    verified: false,
    mode: compare || cached ? "compare" : "copy",
    sourceId: hello.sourceId,
    targetId: opened.identity,
    sourceSize,
    blockSize,
    seed: seed.toString(),
    blocksDone: fromBlock,
    fingerprint: fingerprint.hex,
    generation: saved?.generation ?? 0,
    startedAt: fromBlock > 0 && saved ? saved.startedAt : now(),
    updatedAt: now(),
    lastSync: saved?.lastSync,
    dirs: saved?.dirs,
    writerPid: process.pid,
  };
  if (!dry) await opened.state.save(state);
  if (!volume.info.isBlockDevice && !dry) {
    // A fresh copy into an image starts from all holes (its zero blocks then cost
    // nothing); probeGrowth showed the image can take the size.
    if (fromBlock === 0 && !compare && !cached) await volume.setSize(0);
    await volume.setSize(sourceSize);
  }
  stats.resumedFromBytes = stats.doneBytes = stats.ackedBytes = Math.min(fromBlock * blockSize, sourceSize);

  const pool = new BufferPool(WRITES_IN_FLIGHT + 1, () => volume.allocBuffer(Math.max(MAX_BLOCKS_BYTES, blockSize)));
  const writes: Array<Promise<unknown>> = [];
  const writeBehind = async (write: Promise<unknown>) => {
    write.catch(() => {}); // awaited below, in order
    writes.push(write);
    while (writes.length > WRITES_IN_FLIGHT) await writes.shift();
  };
  /** Writes a buffer's blocks behind the network; `release` (a pool buffer: back to the pool) once written. */
  const writeBack = async (
    buffer: Buffer,
    offset: number,
    length: number,
    zero: Uint8Array,
    release = () => pool.release(buffer),
  ) => {
    const started = performance.now();
    const write = volume.write(buffer, offset, length, { blockSize, zero }).finally(() => {
      release();
      stats.writeSeconds += (performance.now() - started) / 1000;
    });
    await writeBehind(write);
  };
  const drainWrites = async () => {
    while (writes.length > 0) await writes.shift();
  };

  let next = fromBlock;
  let lastCheckpoint = fromBlock;
  // Compare mode: our own digests stream to the source, a bounded distance ahead of `next`.
  const ours = compare ? new DigestQueue(0, blockCount) : undefined;
  let progressed: () => void = () => {};
  const streamer =
    ours === undefined
      ? undefined
      : streamDigests({
          volume,
          sourceSize,
          blockSize,
          seed,
          channel,
          ours,
          stats,
          behind: () => next,
          waitForProgress: () => new Promise<void>((r) => (progressed = r)),
          aheadBytes: o.digestsAheadBytes,
        });
  let streamFailure: unknown;
  streamer?.catch((e: unknown) => {
    streamFailure = e;
    channel.destroy(); // ends the receive loop below, which reports streamFailure
  });
  // Two-level comparison: offers answered, whose pieces are still to come (in this order).
  const fineSize = compare && !dry ? hello.fineSize : 0;
  // Each keeps the blocks as read for its answer, while all kept stay within KEPT_OFFER_BYTES,
  // so that patching in the pieces does not read them again.
  const offered: Offered[] = [];
  let keptOfferBytes = 0;
  let answers = Promise.resolve();
  let answerFailure: unknown;
  /** An offered run's fine digests as on disk, and (`keep`) its bytes, for the pieces to patch. */
  const readOffered = async (first: number, length: number, keep: boolean) => {
    const buffer = keep ? volume.allocBuffer(length) : await pool.acquire();
    try {
      const r = await volume.read(buffer, first * blockSize, length, { blockSize: fineSize, seed });
      stats.readBytes += length;
      return { digests: r.digests as Buffer, read: keep ? buffer : undefined };
    } finally {
      if (!keep) pool.release(buffer);
    }
  };
  const checkRange = (first: number, count: number, what: string) => {
    if (first !== next || count < 1 || first + count > blockCount) {
      throw new BlockferryError(
        "E_PROTOCOL",
        `protocol error: ${what} for blocks ${first}..${first + count}, expected block ${next} of ${blockCount}`,
      );
    }
  };
  const bytesOf = (first: number, count: number) =>
    Math.min((first + count) * blockSize, sourceSize) - first * blockSize;

  const onBlocks = async (m: Blocks) => {
    if (dry) throw new BlockferryError("E_PROTOCOL", "protocol error: data in a dry run");
    const count = m.kinds.length;
    checkRange(m.firstBlock, count, "BLOCKS");
    const offset = m.firstBlock * blockSize;
    const length = bytesOf(m.firstBlock, count);
    const buffer = await pool.acquire();
    try {
      const dst = buffer.subarray(0, length);
      await decodeBlocks(m.payload[0] ?? Buffer.alloc(0), m.sizes, m.kinds, dst, blockSize);
      const { digests } = await digestBlocks(dst, blockSize, seed);
      fingerprint.add(await foldBatch(digests, count, m.firstBlock, seed));
    } catch (e) {
      pool.release(buffer);
      throw e;
    }
    const zero = m.kinds.map((k) => (k === BlockKind.zero ? 1 : 0));
    stats.zeroBytes += zero.reduce((n, z, i) => n + (z ? Math.min(blockSize, length - i * blockSize) : 0), 0);
    await writeBack(buffer, offset, length, zero);
    next += count;
  };

  const onFineOffer = async (m: FineOffer) => {
    if (fineSize === 0) throw unexpected(MessageType.fineOffer, "outside a two-level comparison");
    checkRange(m.firstBlock, m.count, "FINE_OFFER");
    // An honest source offers nothing past two checkpoint intervals beyond the last one acknowledged.
    if (m.firstBlock + m.count > lastCheckpoint + 2 * checkpointBlocks) {
      throw protocolError(`FINE_OFFER up to block ${m.firstBlock + m.count}, past the window from ${lastCheckpoint}`);
    }
    const length = bytesOf(m.firstBlock, m.count);
    const pieceCount = Math.ceil(length / fineSize);
    if (length > MAX_BLOCKS_BYTES && m.count > 1) throw protocolError(`FINE_OFFER of ${m.count} blocks`);
    if (m.digests.length !== pieceCount * DIGEST_SIZE) {
      throw protocolError(`FINE_OFFER: ${m.digests.length / DIGEST_SIZE} digests for ${pieceCount} pieces`);
    }
    // Kept for the pieces: read straight into a buffer of its own, not copied out of the pool's.
    const keep = keptOfferBytes + length <= KEPT_OFFER_BYTES;
    if (keep) keptOfferBytes += length;
    // Earlier offers' blocks are added to `before` as their pieces arrive.
    const before = new Fingerprint(fingerprint.toBuffer());
    const offer: Offered = {
      first: m.firstBlock,
      count: m.count,
      pieces: [],
      read: undefined,
      answered: false,
      before,
    };
    offered.push(offer);
    next += m.count;
    // The read starts now and the answer follows it, in offer order, behind this loop: waiting
    // here for a random read queued behind the digest stream's would hold up every later message.
    const onDisk = readOffered(m.firstBlock, length, keep);
    onDisk.catch(() => {}); // reported through `answers`
    answers = answers.then(async () => {
      const { digests: mine, read } = await onDisk;
      offer.read = read;
      const bitmap = Buffer.alloc(Math.ceil(pieceCount / 8));
      for (let i = 0; i < pieceCount; i++) {
        const at = i * DIGEST_SIZE;
        if (mine.compare(m.digests, at, at + DIGEST_SIZE, at, at + DIGEST_SIZE) !== 0) {
          offer.pieces.push(i);
          bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) | (1 << (i & 7));
        }
      }
      if (offer.pieces.length === 0) {
        // The blocks differ but no piece does (a digest collision): ask for one anyway.
        offer.pieces.push(0);
        bitmap[0] = 1;
      }
      offer.answered = true;
      await channel.send(
        MessageType.fineNeed,
        codecs.fineNeed.encode({ firstBlock: m.firstBlock, count: m.count, bitmap }),
      );
    });
    answers.catch((e: unknown) => {
      answerFailure ??= e;
      channel.destroy(); // ends the receive loop below, which reports answerFailure
    });
    // Past the caps on kept bytes and on offers outstanding, the answers are awaited here.
    if (!keep || offered.length > OFFERS_OUTSTANDING) await answers;
  };

  /** The pieces asked for: patched into the blocks as they are on disk, digested, written back. */
  const onFineBlocks = async (m: Blocks) => {
    const offer = offered.shift();
    if (
      offer === undefined ||
      !offer.answered ||
      m.firstBlock !== offer.first ||
      m.kinds.length !== offer.pieces.length
    ) {
      throw protocolError(`FINE_BLOCKS for block ${m.firstBlock} with ${m.kinds.length} pieces, not as asked`);
    }
    const offset = offer.first * blockSize;
    const length = bytesOf(offer.first, offer.count);
    const lengths = offer.pieces.map((p) => Math.min(fineSize, length - p * fineSize));
    const pieces = Buffer.allocUnsafe(lengths.reduce((n, l) => n + l, 0));
    await decodeBlocks(m.payload[0] ?? Buffer.alloc(0), m.sizes, m.kinds, pieces, fineSize);
    // The blocks kept as read for the answer (only this FINE_BLOCKS writes them) are patched in
    // place; others are read again, unless every piece is replaced.
    const kept = offer.read;
    const buffer = kept ?? (await pool.acquire());
    const release = kept === undefined ? () => pool.release(buffer) : () => (keptOfferBytes -= length);
    let zero: Buffer;
    try {
      const dst = buffer.subarray(0, length);
      if (kept === undefined && offer.pieces.length < Math.ceil(length / fineSize)) {
        await volume.read(dst, offset, length, { blockSize });
        stats.readBytes += length;
      }
      let at = 0;
      offer.pieces.forEach((p, k) => {
        pieces.copy(dst, p * fineSize, at, at + (lengths[k] ?? 0));
        at += lengths[k] ?? 0;
      });
      const digested = await digestBlocks(dst, blockSize, seed);
      zero = digested.zero;
      const sum = await foldBatch(digested.digests, offer.count, offer.first, seed);
      fingerprint.add(sum);
      for (const later of offered) later.before.add(sum);
    } catch (e) {
      release();
      throw e;
    }
    await writeBack(buffer, offset, length, zero, release);
  };

  const onSameRun = async (m: SameRun) => {
    if (dry) {
      // Only progress: the source compared and counted, and will send nothing else.
      checkRange(m.firstBlock, m.count, "SAME_RUN");
      next += m.count;
      return;
    }
    if (cached) {
      // Blocks the cache says we hold: they add nothing to what this run wrote.
      checkRange(m.firstBlock, m.count, "SAME_RUN");
      stats.sameBytes += bytesOf(m.firstBlock, m.count);
      next += m.count;
      return;
    }
    if (ours === undefined) throw unexpected(MessageType.sameRun, "outside compare mode");
    checkRange(m.firstBlock, m.count, "SAME_RUN");
    if (ours.covered < m.firstBlock + m.count) {
      throw new BlockferryError("E_PROTOCOL", `protocol error: SAME_RUN past the digests sent (${ours.covered})`);
    }
    fingerprint.add(await ours.fold(m.firstBlock, m.count, blockSize, sourceSize, seed));
    stats.sameBytes += bytesOf(m.firstBlock, m.count);
    next += m.count;
  };

  const onZeroRun = async (m: ZeroRun) => {
    if (dry) throw new BlockferryError("E_PROTOCOL", "protocol error: data in a dry run");
    checkRange(m.firstBlock, m.count, "ZERO_RUN");
    const length = bytesOf(m.firstBlock, m.count);
    fingerprint.add(await foldZeroRun(m.firstBlock, m.count, blockSize, sourceSize, seed));
    await writeBehind(volume.zeroRange(m.firstBlock * blockSize, length));
    stats.zeroBytes += length;
    next += m.count;
  };

  // A copy resumes from its last checkpoint, so each one is made durable. A
  // comparison starts again from block 0 after an interruption: its
  // checkpoints only acknowledge (the window, and the prefix's fingerprint),
  // without an fsync and a state save every 64 MiB compared.
  const resumableRun = !compare && !cached;
  const checkpoint = async () => {
    // With offers awaiting their pieces, the acknowledgement stops short of the oldest: the blocks
    // before it are all in. Waiting for no offer at all could hold it back for as long as the
    // source keeps offering, and the source's window with it.
    const [at, sum] = offered[0] === undefined ? [next, fingerprint] : [offered[0].first, offered[0].before];
    if (at - lastCheckpoint < checkpointBlocks) return;
    if (resumableRun) {
      await drainWrites();
      await volume.sync();
      state.blocksDone = next;
      state.fingerprint = fingerprint.hex;
      state.updatedAt = now();
      await opened.state.save(state);
    }
    lastCheckpoint = at;
    stats.ackedBytes = Math.min(at * blockSize, sourceSize);
    await channel.send(MessageType.ack, codecs.ack.encode({ blocksDone: at, fingerprint: sum.toBuffer() }));
  };

  /**
   * A copy that stops midway (the link, the source, this disk) leaves its
   * writes done and synced, and records the stamp they left: a resume can
   * then trust the copied part without reading it, while nothing else wrote.
   */
  const pause = async () => {
    if (dry || !resumableRun || state.complete || state.blocksDone === 0) return;
    await Promise.allSettled(writes.splice(0));
    try {
      await volume.sync();
      state.pausedStamp = await opened.stamp();
      state.writerPid = undefined;
      await opened.state.save(state);
    } catch {
      // No stamp recorded: the resume reads the copied part again.
    }
  };

  try {
    for (;;) {
      const frame = await fromSource(channel).catch((e: unknown) => {
        throw streamFailure ?? answerFailure ?? e;
      });
      if (streamFailure !== undefined) throw streamFailure;
      if (answerFailure !== undefined) throw answerFailure;
      if (frame === undefined)
        throw new BlockferryError("E_NETWORK", "the source closed the connection before the end of the copy");
      stats.wireBytes = channel.bytesReceived;
      if (frame.type === MessageType.blocks) {
        await onBlocks(codecs.blocks.decode(frame.body, blockSize));
      } else if (frame.type === MessageType.zeroRun) {
        await onZeroRun(codecs.zeroRun.decode(frame.body));
      } else if (frame.type === MessageType.sameRun) {
        await onSameRun(codecs.sameRun.decode(frame.body));
      } else if (frame.type === MessageType.fineOffer) {
        await onFineOffer(codecs.fineOffer.decode(frame.body));
      } else if (frame.type === MessageType.fineBlocks && fineSize > 0) {
        await onFineBlocks(codecs.blocks.decode(frame.body, fineSize));
      } else if (frame.type === MessageType.end) {
        const end = codecs.end.decode(frame.body);
        if (end.blockCount !== blockCount || next !== blockCount || offered.length > 0) {
          throw new BlockferryError("E_PROTOCOL", `protocol error: END after block ${next} of ${blockCount}`);
        }
        await streamer;
        const mode = cached ? "cached" : compare ? "compare" : "copy";
        if (dry) return { ...(await finishDryRun(o, opened, hello, stats)), mode };
        // Cached mode: the copy's fingerprint is the recorded one, less the blocks replaced, plus those written.
        const written = cached ? new Fingerprint(Buffer.from(saved.fingerprint, "hex")) : fingerprint;
        if (cached) {
          written.subtract(end.replaced);
          written.add(fingerprint.toBuffer());
        }
        return {
          ...(await finish(o, opened, state, written, end.fingerprint, hello, stats, fromBlock, drainWrites, mode)),
          mode,
        };
      } else {
        throw unexpected(frame.type, "during a copy");
      }
      stats.doneBytes = Math.min(next * blockSize, sourceSize);
      ours?.dropBefore(next);
      progressed();
      if (!dry) await checkpoint(); // once an interval is fully in (see checkpoint)
    }
  } catch (e) {
    await pause();
    throw e;
  }
}

/** A dry run ends with nothing written or recorded: DONE says "not verified". */
async function finishDryRun(
  o: TargetOptions,
  opened: OpenedTarget,
  hello: Hello,
  stats: TransferStats,
): Promise<Omit<TargetResult, "mode">> {
  const done = { fingerprint: Buffer.alloc(16), verified: false, targetReadBytes: stats.readBytes, targetWriteMs: 0 };
  await o.channel.send(MessageType.done, codecs.done.encode(done));
  const after = await fromSource(o.channel);
  if (after !== undefined) throw unexpected(after.type, "after DONE");
  await o.channel.end();
  const fingerprint = "0".repeat(32);
  return {
    target: opened.describe,
    sourceId: hello.sourceId,
    fingerprint,
    verified: false,
    resumedFromBlock: 0,
    stats,
    dirs: [],
  };
}

async function finish(
  o: TargetOptions,
  opened: OpenedTarget,
  state: TargetState,
  written: Fingerprint,
  sourceSum: Buffer,
  hello: Hello,
  stats: TransferStats,
  fromBlock: number,
  drainWrites: () => Promise<void>,
  mode: Exclude<TargetResult["mode"], "probe">,
): Promise<Omit<TargetResult, "mode">> {
  const { channel } = o;
  const { volume } = opened;
  await drainWrites();
  await volume.sync();
  let verified = written.equals(sourceSum);
  let fingerprint = written;
  if (verified && hello.flags.verify) {
    o.log?.(`${opened.describe}: re-reading the copy to verify it`);
    const seed = BigInt(state.seed);
    const batchBytes = Math.max(MAX_BLOCKS_BYTES, hello.blockSize);
    fingerprint = await fingerprintVolume(volume, hello.sourceSize, hello.blockSize, seed, stats, batchBytes);
    verified = fingerprint.equals(sourceSum);
  }
  const at = new Date().toISOString();
  state.writerPid = undefined;
  if (verified) {
    // Taken after the last write and sync: any later write changes it.
    state.stamp = await opened.stamp(true);
    state.generation += 1;
    Object.assign(state, { complete: true, verified: true, blocksDone: Math.ceil(hello.sourceSize / hello.blockSize) });
    Object.assign(state, { fingerprint: fingerprint.hex, updatedAt: at, completedAt: at });
    state.lastSync = {
      at,
      sourceId: hello.sourceId,
      generation: state.generation,
      mode,
      seconds: Math.round(stats.elapsedSeconds() * 1000) / 1000,
      bytesIn: channel.bytesReceived,
      bytesOut: channel.bytesSent,
      reread: hello.flags.verify,
    };
  } else {
    // Something between the source's reads and this disk went wrong: nothing of this copy is trusted.
    Object.assign(state, {
      complete: false,
      verified: false,
      blocksDone: 0,
      fingerprint: "0".repeat(32),
      updatedAt: at,
    });
  }
  await opened.state.save(state);
  const done = {
    fingerprint: fingerprint.toBuffer(),
    verified,
    targetReadBytes: stats.readBytes,
    targetWriteMs: Math.round(stats.writeSeconds * 1000),
  };
  await channel.send(MessageType.done, codecs.done.encode(done));
  // --with-dir: the directories follow a confirmed copy only.
  const dirs =
    verified && hello.dirs.length > 0
      ? await receiveDirectories(channel, hello.dirs, o.log ?? (() => {}), opened.checkDir)
      : [];
  if (dirs.length > 0) {
    const placedAt = new Date().toISOString();
    state.dirs = dirs.map((d) => ({ path: d.dest, at: placedAt, entries: d.entries, bytes: d.bytes }));
    await opened.state.save(state);
  }
  const after = await fromSource(channel);
  if (after !== undefined) throw unexpected(after.type, "after DONE");
  await channel.end();
  if (!verified) {
    throw new BlockferryError(
      "E_VERIFY",
      `${opened.describe}: the copy's fingerprint ${fingerprint.hex} differs from the source's ${sourceSum.toString("hex")}; marked incomplete`,
    );
  }
  stats.doneBytes = stats.ackedBytes = hello.sourceSize;
  return {
    target: opened.describe,
    sourceId: hello.sourceId,
    fingerprint: fingerprint.hex,
    verified,
    resumedFromBlock: fromBlock,
    stats,
    dirs,
  };
}
