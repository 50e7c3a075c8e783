/**
 * Target side of compare mode: reads the target's own volume in order, on
 * worker threads, and sends the digest of every block to the source. Holes
 * and all-zero batches go as "all zero" with no digests. Reading stays within
 * AHEAD_BYTES of what the source has answered, so memory stays bounded.
 */
import type { Volume } from "../native/index.js";
import { DIGEST_SIZE } from "../native/index.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { DIGESTS_AHEAD_BYTES, MAX_BLOCKS_BYTES, MAX_BLOCKS_PER_MESSAGE, MessageType } from "../protocol/messages.js";
import { BufferPool } from "./buffer-pool.js";
import { readBatches } from "./source-batches.js";
import type { TransferStats } from "./stats.js";
import type { DigestQueue } from "./target-digests.js";

export interface DigestStream {
  volume: Volume;
  sourceSize: number;
  blockSize: number;
  seed: bigint;
  channel: FrameChannel;
  /** Every entry sent is added here, for the target's own fingerprint. */
  ours: DigestQueue;
  stats: TransferStats;
  /** The first block the source has not yet answered for. */
  behind: () => number;
  /** Resolves when `behind()` may have moved. */
  waitForProgress: () => Promise<void>;
  /** How far to read ahead of `behind()`, in bytes (at most the protocol's DIGESTS_AHEAD_BYTES). */
  aheadBytes?: number | undefined;
}

export async function streamDigests(s: DigestStream): Promise<void> {
  const { volume, blockSize, seed } = s;
  // At least two of the source's batches: it waits for a whole batch's digests at a time.
  const batch = Math.max(MAX_BLOCKS_BYTES, blockSize);
  const ahead = Math.max(2 * batch, Math.min(s.aheadBytes ?? DIGESTS_AHEAD_BYTES, DIGESTS_AHEAD_BYTES));
  const aheadBlocks = Math.max(1, Math.floor(ahead / blockSize));
  const batchBytes = Math.max(MAX_BLOCKS_BYTES, blockSize);
  const pool = new BufferPool(3, () => volume.allocBuffer(batchBytes));
  // A message must fit in the read-ahead with room to spare, or it could never be sent.
  const perMessage = Math.max(1, Math.min(MAX_BLOCKS_PER_MESSAGE, Math.floor(aheadBlocks / 2)));
  const send = async (firstBlock: number, count: number, digests: Buffer | undefined) => {
    for (let at = 0; at < count; at += perMessage) {
      const n = Math.min(perMessage, count - at);
      while (firstBlock + at + n - s.behind() > aheadBlocks) await s.waitForProgress();
      const entry = {
        firstBlock: firstBlock + at,
        count: n,
        digests:
          digests === undefined ? undefined : Buffer.from(digests.subarray(at * DIGEST_SIZE, (at + n) * DIGEST_SIZE)),
      };
      s.ours.add(entry);
      await s.channel.send(MessageType.digests, codecs.digests.encode(entry));
    }
  };
  const plan = {
    volume,
    fromBlock: 0,
    endByte: s.sourceSize,
    blockSize,
    seed,
    batchBytes,
    depth: 2,
    pool,
    stats: s.stats,
    compress: false,
  };
  for await (const batch of readBatches(plan)) {
    if (batch.kind === "hole") {
      await send(batch.firstBlock, batch.count, undefined);
      continue;
    }
    const allZero = batch.zero.every((z) => z === 1);
    const digests = allZero ? undefined : batch.digests;
    batch.release();
    await send(batch.firstBlock, batch.count, digests);
  }
  // Past the end of a smaller image (a dry run does not grow it) the target holds nothing: zeros.
  const blockCount = Math.ceil(s.sourceSize / blockSize);
  if (s.ours.covered < blockCount) await send(s.ours.covered, blockCount - s.ours.covered, undefined);
}
