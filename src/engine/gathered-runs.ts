/**
 * Cached mode: short runs of changed blocks near one another go out as one
 * BLOCK_RUNS message, the blocks between them (which the target holds) as its
 * gaps. A night of scattered changes is then a message per 4 MiB of changed
 * blocks (or per checkpoint interval), not a BLOCKS and a SAME_RUN per changed
 * run: each message costs both roles framing, a window check, a decode, a
 * write call and a turn of the receive loop, and for 4 KiB blocks that, not
 * the bytes, was most of the night (bench/local-delta.ts: 2,600 scattered
 * writes in 1 GiB, a cached night 1.09 → 0.60 s).
 *
 * Zero runs, and same runs too long to be a gap, go through the RunCoalescer
 * as before, in block order. Only for cached mode: there the blocks the target
 * holds add nothing to what a message carries (SAME_RUN's sum is zero).
 */
import { BlockferryError } from "../errors.js";
import { codecs } from "../protocol/codecs.js";
import { type BlockRuns, type Blocks, MAX_BLOCKS_PER_MESSAGE, MessageType } from "../protocol/messages.js";
import { Fingerprint } from "./fingerprint.js";
import type { RunCoalescer, RunKind, SendCovering } from "./run-coalescer.js";

/** A changed run this long or longer goes as BLOCKS, uncopied; shorter ones are copied into a BLOCK_RUNS. */
export const GATHERED_RUN_BYTES = 256 * 1024;
/**
 * Most bytes of blocks one BLOCK_RUNS carries: the target decodes and writes one while the source
 * gathers the next (16 MiB, one BLOCKS' most, left the two cores taking turns: 64 KiB blocks'
 * nights were 23% slower; bench/local-delta.ts).
 */
const GATHERED_BYTES = 4 * 1024 * 1024;

interface Gathering {
  runs: BlockRuns["runs"];
  kinds: Uint8Array[];
  sizes: Uint32Array[];
  payload: Buffer[];
  blocks: number;
  sum: Fingerprint;
}

export class GatheredRuns {
  readonly #runs: RunCoalescer;
  readonly #send: SendCovering;
  /** Most blocks from a message's first block to its end: the checkpoint interval, so the window never waits on one. */
  readonly #span: number;
  readonly #blockSize: number;
  #message: Gathering | undefined;
  /** Same blocks after the message's last run: its gap if another run joins it, else a SAME_RUN. */
  #gap: { first: number; count: number } | undefined;

  constructor(runs: RunCoalescer, send: SendCovering, span: number, blockSize: number) {
    this.#runs = runs;
    this.#send = send;
    this.#span = span;
    this.#blockSize = blockSize;
  }

  /** As RunCoalescer.add: same blocks after a gathered run wait to see whether another run follows. */
  async add(kind: RunKind, first: number, count: number, sum: Buffer): Promise<void> {
    const message = this.#message;
    if (kind !== "same" || message === undefined) {
      await this.#flushMessage();
      await this.#runs.add(kind, first, count, sum);
      return;
    }
    if (sum.some((b) => b !== 0)) throw new BlockferryError("E_INTERNAL", "a gathered gap outside cached mode");
    this.#gap = { first: this.#gap?.first ?? first, count: (this.#gap?.count ?? 0) + count };
    if (first + count - (message.runs[0] as { first: number }).first > this.#span) await this.#flushMessage();
  }

  /** A short changed run (a BLOCKS message's layout, its payload copied) joins the message, or starts one. */
  async blocks(m: Blocks, sum: Buffer): Promise<void> {
    const count = m.kinds.length;
    if (this.#message !== undefined && !this.#fits(this.#message, m.firstBlock + count, count)) {
      await this.#flushMessage();
    }
    let message = this.#message;
    if (message === undefined) {
      await this.#runs.flush();
      message = { runs: [], kinds: [], sizes: [], payload: [], blocks: 0, sum: new Fingerprint() };
      this.#message = message;
    }
    const last = message.runs[message.runs.length - 1];
    if (last !== undefined && this.#gap === undefined) last.count += count;
    else message.runs.push({ first: m.firstBlock, count });
    this.#gap = undefined;
    message.kinds.push(m.kinds);
    message.sizes.push(m.sizes);
    // A copy: the read buffer goes back to the read-ahead now, not when the message is sent.
    if (m.payload.length > 0) message.payload.push(Buffer.concat(m.payload));
    message.blocks += count;
    message.sum.add(sum);
  }

  /** Sends what is held, the message then the runs: before any other message, and at the end. */
  async flush(): Promise<void> {
    await this.#flushMessage();
    await this.#runs.flush();
  }

  #fits(message: Gathering, end: number, count: number): boolean {
    const blocks = message.blocks + count;
    const first = (message.runs[0] as { first: number }).first;
    return end - first <= this.#span && blocks <= MAX_BLOCKS_PER_MESSAGE && blocks * this.#blockSize <= GATHERED_BYTES;
  }

  async #flushMessage(): Promise<void> {
    const message = this.#message;
    if (message === undefined) return;
    this.#message = undefined;
    const last = message.runs[message.runs.length - 1] as { first: number; count: number };
    const sizes = new Uint32Array(message.blocks);
    let at = 0;
    for (const s of message.sizes) {
      sizes.set(s, at);
      at += s.length;
    }
    const body = codecs.blockRuns.encode({
      runs: message.runs,
      kinds: Buffer.concat(message.kinds),
      sizes,
      payload: message.payload,
    });
    await this.#send(MessageType.blockRuns, body, last.first + last.count, message.sum.toBuffer());
    const gap = this.#gap;
    this.#gap = undefined;
    if (gap !== undefined) await this.#runs.add("same", gap.first, gap.count, Buffer.alloc(16));
  }
}
