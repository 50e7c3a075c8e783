/**
 * The source's side of the two-level comparison: a short run of changed
 * blocks is offered as the digests of its fine pieces (FINE_OFFER); the
 * target answers, in offer order, which pieces it lacks (FINE_NEED), and only
 * those travel (FINE_BLOCKS). Answers arrive on the peer listener; the pieces
 * are sent apart from it, so that it keeps reading the target's digests.
 * Each offer keeps its own copy of the blocks, so that no read-ahead buffer
 * waits on the target's answer; the copies kept at once are bounded by
 * MAX_OFFERED_BYTES (`room` waits for earlier offers to go out).
 */
import { BlockferryError } from "../errors.js";
import { digestBlocks } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import { type FineNeed, MessageType } from "../protocol/messages.js";
import { blocksMessage } from "./blocks-message.js";
import { SpareBuffers } from "./spare-buffers.js";
import type { TransferStats } from "./stats.js";
import type { DataBatch } from "./volume-reader.js";
import { Wakeup } from "./wakeup.js";

/** Bytes of offered blocks kept at once (one offer may exceed it alone: 16 blocks of 16 MiB). */
const MAX_OFFERED_BYTES = 32 * 1024 * 1024;

interface Offer {
  first: number;
  count: number;
  /** The offered blocks' bytes. */
  data: Buffer;
}

export type Transmit = (type: MessageType, body: Buffer[], onFlushed?: () => void) => Promise<void>;

export class FineOffers {
  readonly #fineSize: number;
  readonly #compress: boolean;
  readonly #stats: TransferStats;
  readonly #transmit: Transmit;
  readonly #fail: (e: BlockferryError) => void;
  /** Offered, not yet answered. */
  readonly #pending: Offer[] = [];
  #work = Promise.resolve();
  /** Bytes of the offers kept (offered, or answered with pieces not yet on the wire). */
  #keptBytes = 0;
  /** Woken when kept bytes go down, and when the last pending offer is answered. */
  readonly #progress = new Wakeup();
  readonly #spares = new SpareBuffers((length) => Buffer.allocUnsafeSlow(length), MAX_OFFERED_BYTES);

  constructor(
    fineSize: number,
    compress: boolean,
    stats: TransferStats,
    transmit: Transmit,
    fail: (e: BlockferryError) => void,
  ) {
    this.#fineSize = fineSize;
    this.#compress = compress;
    this.#stats = stats;
    this.#transmit = transmit;
    this.#fail = fail;
  }

  /** Resolves once an offer of `bytes` may be kept: earlier offers' pieces went out, or none is kept. */
  async room(bytes: number, failed: Promise<never>): Promise<void> {
    while (this.#keptBytes > 0 && this.#keptBytes + bytes > MAX_OFFERED_BYTES) {
      await this.#progress.wait(failed);
    }
  }

  /** Records an offer of blocks [first, first + count), whose bytes are `blocks` (copied); returns the FINE_OFFER body. */
  async offer(first: number, count: number, blocks: Uint8Array, seed: bigint): Promise<Buffer[]> {
    const data = this.#spares.take(blocks.length).subarray(0, blocks.length);
    data.set(blocks);
    const { digests } = await digestBlocks(data, this.#fineSize, seed);
    this.#keptBytes += data.length;
    this.#pending.push({ first, count, data });
    return codecs.fineOffer.encode({ firstBlock: first, count, digests });
  }

  /** The target's FINE_NEED for the oldest offer: its pieces are queued to be sent. */
  answer(need: FineNeed): void {
    const offer = this.#pending[0];
    if (offer === undefined || need.firstBlock !== offer.first || need.count !== offer.count) {
      throw protocolError(`FINE_NEED for block ${need.firstBlock}, not offered`);
    }
    this.#pending.shift();
    const pieces = neededPieces(need.bitmap, Math.ceil(offer.data.length / this.#fineSize));
    if (this.#pending.length === 0) this.#progress.wake();
    this.#work = this.#work.then(async () => {
      const message = await piecesMessage(offer, pieces, this.#fineSize, this.#compress, this.#stats);
      this.#spares.give(offer.data, offer.data.length);
      await this.#transmit(MessageType.fineBlocks, codecs.fineBlocks.encode(message));
      this.#keptBytes -= offer.data.length;
      this.#progress.wake();
    });
    this.#work.catch((e: unknown) => {
      this.#fail(e instanceof BlockferryError ? e : new BlockferryError("E_INTERNAL", String(e)));
    });
  }

  /** Resolves once every offer is answered and its pieces sent (before END). */
  async drained(failed: Promise<never>): Promise<void> {
    while (this.#pending.length > 0) {
      await this.#progress.wait(failed);
    }
    await Promise.race([this.#work, failed]);
  }
}

/** Indices of the 1 bits of a FINE_NEED bitmap, checked against the offer's piece count. */
function neededPieces(bitmap: Buffer, pieces: number): number[] {
  if (bitmap.length !== Math.ceil(pieces / 8)) {
    throw protocolError(`FINE_NEED of ${bitmap.length} bytes for ${pieces} pieces`);
  }
  const out: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) {
    if (((bitmap[i >> 3] ?? 0) >> (i & 7)) & 1) {
      if (i >= pieces) throw protocolError("FINE_NEED past the offer");
      out.push(i);
    }
  }
  if (out.length === 0) throw protocolError("FINE_NEED of no piece");
  return out;
}

/** The needed pieces of an offer, gathered and laid out as BLOCKS lays out blocks. */
async function piecesMessage(
  offer: Offer,
  pieces: number[],
  fineSize: number,
  compress: boolean,
  stats: TransferStats,
): ReturnType<typeof blocksMessage> {
  const lengths = pieces.map((i) => Math.min(fineSize, offer.data.length - i * fineSize));
  const gathered = Buffer.allocUnsafe(lengths.reduce((n, l) => n + l, 0));
  const zero = Buffer.alloc(pieces.length);
  const zeros = Buffer.alloc(fineSize);
  let at = 0;
  pieces.forEach((p, k) => {
    const piece = offer.data.subarray(p * fineSize, p * fineSize + (lengths[k] ?? 0));
    piece.copy(gathered, at);
    zero[k] = piece.equals(zeros.subarray(0, piece.length)) ? 1 : 0;
    at += piece.length;
  });
  const batch: DataBatch = {
    kind: "data",
    firstBlock: offer.first,
    count: pieces.length,
    buffer: gathered,
    length: gathered.length,
    digests: Buffer.alloc(0),
    zero,
    compressed: undefined,
    release: () => {},
  };
  return blocksMessage(batch, 0, pieces.length, fineSize, compress, stats);
}
