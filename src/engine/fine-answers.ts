/**
 * The target's side of the two-level comparison (the mirror of
 * fine-offers.ts): for each FINE_OFFER it reads the offered blocks, compares
 * their pieces' digests with the source's and answers FINE_NEED with the
 * pieces it lacks; the FINE_BLOCKS that follow are patched into the blocks
 * and written. Reads start as offers arrive and answers go out in offer
 * order, behind the receive loop: a random read queued behind the digest
 * stream's holds up no other message. The blocks read for an answer are kept
 * for their pieces (up to KEPT_OFFER_BYTES at once), so they are not read twice.
 */
import { DIGEST_SIZE, decodeUnits, type Volume } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { type Blocks, type FineOffer, MAX_BLOCKS_BYTES, MessageType } from "../protocol/messages.js";
import type { BlockWriter } from "./block-writer.js";
import type { FailureLatch } from "./failure-latch.js";
import { Fingerprint } from "./fingerprint.js";
import { SpareBuffers } from "./spare-buffers.js";
import type { TransferStats } from "./stats.js";

/** Bytes of offered blocks kept between the answer and the pieces (beyond it, they are read again). */
const KEPT_OFFER_BYTES = 32 * 1024 * 1024;
/** Offers outstanding (read, answered or awaiting their pieces) past which the receive loop waits for the answers. */
const OFFERS_OUTSTANDING = 64;

/** An offer being read and answered, or answered and awaiting its pieces. */
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

/** An offered run as read: its pieces' digests, and its bytes when kept. */
interface OnDisk {
  digests: Buffer;
  read: Buffer | undefined;
}

export interface FineAnswersSetup {
  volume: Volume;
  channel: FrameChannel;
  writer: BlockWriter;
  stats: TransferStats;
  blockSize: number;
  fineSize: number;
  sourceSize: number;
  seed: bigint;
  /** Where a failed read or answer is reported (it also ends the receive loop). */
  latch: FailureLatch;
}

export class FineAnswers {
  readonly #s: FineAnswersSetup;
  readonly #offered: Offered[] = [];
  #keptBytes = 0;
  #answers = Promise.resolve();
  readonly #spares: SpareBuffers;

  constructor(setup: FineAnswersSetup) {
    this.#s = setup;
    this.#spares = new SpareBuffers((length) => setup.volume.allocBuffer(length), KEPT_OFFER_BYTES);
  }

  /** The oldest offer still awaiting its pieces: acknowledgements stop there. */
  get oldest(): { first: number; before: Fingerprint } | undefined {
    return this.#offered[0];
  }

  get outstanding(): number {
    return this.#offered.length;
  }

  /** Starts reading and answering an offer of the blocks at `next`; `fingerprint` covers every block before it. */
  async offer(m: FineOffer, fingerprint: Fingerprint): Promise<void> {
    const { fineSize } = this.#s;
    const length = this.#bytesOf(m.firstBlock, m.count);
    const pieceCount = Math.ceil(length / fineSize);
    if (length > MAX_BLOCKS_BYTES && m.count > 1) throw protocolError(`FINE_OFFER of ${m.count} blocks`);
    if (m.digests.length !== pieceCount * DIGEST_SIZE) {
      throw protocolError(`FINE_OFFER: ${m.digests.length / DIGEST_SIZE} digests for ${pieceCount} pieces`);
    }
    const keep = this.#keptBytes + length <= KEPT_OFFER_BYTES;
    if (keep) this.#keptBytes += length;
    // Earlier offers' blocks are added to `before` as their pieces arrive.
    const offer: Offered = {
      first: m.firstBlock,
      count: m.count,
      pieces: [],
      read: undefined,
      answered: false,
      before: new Fingerprint(fingerprint.toBuffer()),
    };
    this.#offered.push(offer);
    const onDisk = this.#read(m.firstBlock, length, keep);
    onDisk.catch(() => {}); // reported through the answer chain
    this.#answers = this.#answers.then(() => this.#answer(offer, m.digests, pieceCount, onDisk));
    this.#answers.catch((e: unknown) => {
      this.#s.latch.fail(e);
      this.#s.channel.destroy(); // ends the receive loop, which reports the latch's failure
    });
    // Past the caps on kept bytes and on offers outstanding, the answers are awaited here.
    if (!keep || this.#offered.length > OFFERS_OUTSTANDING) await this.#answers;
  }

  /** The pieces asked for: patched into the blocks as they are on disk, digested, written back; their sum is returned. */
  async pieces(m: Blocks): Promise<Buffer> {
    const { volume, writer, stats, blockSize, fineSize, seed } = this.#s;
    const offer = this.#offered.shift();
    if (
      offer === undefined ||
      !offer.answered ||
      m.firstBlock !== offer.first ||
      m.kinds.length !== offer.pieces.length
    ) {
      throw protocolError(`FINE_BLOCKS for block ${m.firstBlock} with ${m.kinds.length} pieces, not as asked`);
    }
    const offset = offer.first * blockSize;
    const length = this.#bytesOf(offer.first, offer.count);
    // Kept blocks (only this FINE_BLOCKS writes them) are patched in place; others are read
    // again, unless every piece is replaced.
    const kept = offer.read;
    const buffer = kept ?? (await writer.acquire(length));
    const release =
      kept === undefined
        ? () => writer.release(buffer)
        : () => {
            this.#keptBytes -= length;
            this.#spares.give(kept, length);
          };
    let zero: Buffer;
    let sum: Buffer;
    try {
      const dst = buffer.subarray(0, length);
      if (kept === undefined && offer.pieces.length < Math.ceil(length / fineSize)) {
        await volume.read(dst, offset, length, { blockSize });
        stats.readBytes += length;
      }
      // The pieces are decoded straight to their offsets, then the blocks digested and folded: one call.
      const offsets = Uint32Array.from(offer.pieces, (p) => p * fineSize);
      const fold = { blockSize, seed, firstBlock: offer.first };
      ({ zero, sum } = await decodeUnits(m.payload, m.sizes, m.kinds, dst, fineSize, { offsets, fold }));
      for (const later of this.#offered) later.before.add(sum);
    } catch (e) {
      release();
      throw e;
    }
    await writer.write(buffer, offset, length, zero, release);
    return sum;
  }

  /** An offered run's fine digests as on disk, and (`keep`) its bytes, for the pieces to patch. */
  async #read(first: number, length: number, keep: boolean): Promise<OnDisk> {
    const { volume, writer, stats, blockSize, fineSize, seed } = this.#s;
    const buffer = keep ? this.#spares.take(length) : await writer.acquire(length);
    try {
      const r = await volume.read(buffer, first * blockSize, length, { blockSize: fineSize, seed });
      stats.readBytes += length;
      return { digests: r.digests as Buffer, read: keep ? buffer : undefined };
    } finally {
      if (!keep) writer.release(buffer);
    }
  }

  async #answer(offer: Offered, theirs: Buffer, pieceCount: number, onDisk: Promise<OnDisk>) {
    const { digests: mine, read } = await onDisk;
    offer.read = read;
    const bitmap = Buffer.alloc(Math.ceil(pieceCount / 8));
    for (let i = 0; i < pieceCount; i++) {
      const at = i * DIGEST_SIZE;
      if (mine.compare(theirs, at, at + DIGEST_SIZE, at, at + DIGEST_SIZE) !== 0) {
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
    const need = { firstBlock: offer.first, count: offer.count, bitmap };
    await this.#s.channel.send(MessageType.fineNeed, codecs.fineNeed.encode(need));
  }

  #bytesOf(first: number, count: number): number {
    const { blockSize, sourceSize } = this.#s;
    return Math.min((first + count) * blockSize, sourceSize) - first * blockSize;
  }
}
