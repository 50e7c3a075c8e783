/**
 * Plays a script (source-script.ts) against a target: HELLO, then each
 * action as a frame, without waiting for the target to accept it. It keeps
 * the sum a true source would send at END (the fold of every block it sent,
 * and of the blocks it said the target holds), so that a script which
 * happens to be a correct copy ends verified and goes on to the directories.
 */
import { Fingerprint, foldBatch, foldZeroRun } from "../../src/engine/fingerprint.js";
import { BlockferryError } from "../../src/errors.js";
import { digestBlocks } from "../../src/native/index.js";
import { BodyWriter } from "../../src/protocol/body.js";
import { codecs } from "../../src/protocol/codecs.js";
import { DirStreamDigest, dirCodecs } from "../../src/protocol/dir-messages.js";
import type { FrameChannel } from "../../src/protocol/frames.js";
import { type Hello, MessageType } from "../../src/protocol/messages.js";
import { compressibleBytes, seededBytes } from "../helpers/random.js";
import { encodeBlocks } from "./blocks.js";
import type { Inbox } from "./inbox.js";
import { type Mutation, mutate } from "./mutate.js";
import type { Action, Count, Fill, Pos } from "./source-script.js";

export interface SourceSetup {
  hello: Hello;
  /** HELLO's body, mutated before it is sent. */
  helloMutate?: Mutation[] | undefined;
  /** The target image's bytes before the run: what a comparing target holds. */
  image: Buffer;
}

type Frame = { type: number; body: Buffer[] };

function filled(fill: Fill, length: number, seed: number): Buffer {
  if (fill === "zero") return Buffer.alloc(length);
  return fill === "random" ? seededBytes(length, seed) : compressibleBytes(length, seed, 8);
}

/** A BLOCKS body of `count` zero blocks; past the most one message may carry, the header alone. */
function zeroBlocks(firstBlock: number, count: number): Buffer {
  if (count > 8193)
    return new BodyWriter()
      .u64(firstBlock)
      .u32(count % 2 ** 32)
      .toBuffer();
  const kinds = new Uint8Array(count).fill(2);
  return Buffer.concat(codecs.blocks.encode({ firstBlock, kinds, sizes: new Uint32Array(count), payload: [] }));
}

class Source {
  readonly #hello: Hello;
  readonly #image: Buffer;
  readonly #inbox: Inbox;
  readonly #blockCount: number;
  #cursor = 0;
  #started = false;
  /** What a true source would send at END: the sum over every block it accounted for. */
  #sum = new Fingerprint();
  /** Cached mode: the sum, by the cache, of the blocks sent (END's "replaced"). */
  #replaced = new Fingerprint();
  #resumed = false;
  #offers: Array<{ first: number; count: number }> = [];
  #needsTaken = 0;
  #dir = { index: 0, digest: new DirStreamDigest(), entries: 0, bytes: 0, pending: 0 };

  constructor(setup: SourceSetup, inbox: Inbox) {
    this.#hello = setup.hello;
    this.#image = setup.image;
    this.#inbox = inbox;
    this.#blockCount = Math.ceil(setup.hello.sourceSize / setup.hello.blockSize);
  }

  get #seed(): bigint {
    return this.#inbox.welcome?.seed ?? 0n;
  }

  #bytesOf(first: number, count: number): number {
    const { blockSize, sourceSize } = this.#hello;
    return Math.min((first + count) * blockSize, sourceSize) - first * blockSize;
  }

  /**
   * Blocks [first, first + count) as the target holds them before any write:
   * its image when it keeps it (comparing, cached, resuming), else zeros (a
   * fresh copy starts from an empty image).
   */
  #held(first: number, count: number): Buffer {
    const out = Buffer.alloc(this.#bytesOf(first, count));
    const from = first * this.#hello.blockSize;
    const w = this.#inbox.welcome;
    if ((w?.compare || w?.cached || this.#resumed) && from < this.#image.length) this.#image.copy(out, 0, from);
    return out;
  }

  async #fold(data: Buffer, first: number, count: number): Promise<Buffer> {
    const { digests } = await digestBlocks(data, this.#hello.blockSize, this.#seed);
    return foldBatch(digests, count, first, this.#seed);
  }

  async #account(data: Buffer, first: number, count: number): Promise<void> {
    this.#sum.add(await this.#fold(data, first, count));
  }

  /** Blocks about to be written: in cached mode their old contents leave the copy's sum. */
  async #replacing(first: number, count: number): Promise<void> {
    if (this.#inbox.welcome?.cached) this.#replaced.add(await this.#fold(this.#held(first, count), first, count));
  }

  /** Where a copy action lands; the cursor moves past it whether the target takes it or not. */
  #range(pos: Pos, count: Count): { first: number; count: number; inRange: boolean } {
    const first = this.#first(pos);
    const left = this.#blockCount - first;
    const n = count === "rest" ? left : "upTo" in count ? Math.max(1, Math.min(count.upTo, left)) : count.n;
    this.#cursor = first + n;
    return { first, count: n, inRange: n >= 1 && first + n <= this.#blockCount };
  }

  #first(pos: Pos): number {
    return pos.at === "cursor" ? this.#cursor : pos.at === "shift" ? Math.max(0, this.#cursor + pos.by) : pos.block;
  }

  /** The frame for `a`; undefined when it has nothing to send ("rest" with no block left). */
  async frameFor(a: Action): Promise<Frame | undefined> {
    const { blockSize, fineSize } = this.#hello;
    if ("count" in a && a.count === "rest" && this.#first(a.pos) >= this.#blockCount) return undefined;
    if (a.t === "dirData" && a.size === "rest" && this.#dir.pending === 0) return undefined;
    switch (a.t) {
      case "start": {
        const resume = this.#inbox.welcome?.resumeBlock ?? 0;
        const fromBlock = a.fromBlock === "resume" ? resume : a.fromBlock;
        if (fromBlock === resume && resume > 0) {
          // The target resumes from its record: what a true source sends continues from there.
          this.#cursor = resume;
          this.#resumed = true;
          this.#sum = new Fingerprint(this.#inbox.welcome?.resumeFingerprint);
        }
        // The target streams its digests once a START it takes has arrived.
        this.#started ||= fromBlock === 0 && a.mutate === undefined;
        return { type: MessageType.start, body: codecs.start.encode({ fromBlock }) };
      }
      case "blocks": {
        const r = this.#range(a.pos, a.count);
        if (!r.inRange || r.count > 64) return { type: MessageType.blocks, body: [zeroBlocks(r.first, r.count)] };
        const data = filled(a.fill, this.#bytesOf(r.first, r.count), a.seed);
        await this.#account(data, r.first, r.count);
        await this.#replacing(r.first, r.count);
        return { type: MessageType.blocks, body: [await encodeBlocks(data, blockSize, r.first)] };
      }
      case "blockRuns":
        return this.#blockRuns(a.pos, a.count, a.fill, a.seed);
      case "zeroRun": {
        const r = this.#range(a.pos, a.count);
        if (r.inRange) {
          this.#sum.add(await foldZeroRun(r.first, r.count, blockSize, this.#hello.sourceSize, this.#seed));
          await this.#replacing(r.first, r.count);
        }
        return { type: MessageType.zeroRun, body: codecs.zeroRun.encode({ firstBlock: r.first, count: r.count }) };
      }
      case "sameRun": {
        const r = this.#range(a.pos, a.count);
        // Cached mode: blocks the target keeps are already in the copy's sum.
        if (r.inRange && !this.#inbox.welcome?.cached) {
          await this.#account(this.#held(r.first, r.count), r.first, r.count);
          // A true source says "same" only of blocks whose digests it has.
          if (this.#inbox.welcome?.compare && this.#started)
            await this.#inbox.until(() => this.#inbox.covered >= r.first + r.count);
        }
        return { type: MessageType.sameRun, body: codecs.sameRun.encode({ firstBlock: r.first, count: r.count }) };
      }
      case "fineOffer": {
        const r = this.#range(a.pos, a.count);
        const ok = r.inRange && fineSize > 0;
        const pieces = ok ? Math.ceil(this.#bytesOf(r.first, r.count) / fineSize) : 1;
        let digests = seededBytes(16 * (typeof a.digests === "number" ? a.digests : pieces), r.first);
        if (a.digests === "same" && ok) {
          digests = (await digestBlocks(this.#held(r.first, r.count), fineSize, this.#seed)).digests;
        }
        if (ok) {
          this.#offers.push(r);
          // As a true source does: offered blocks are changed blocks, replaced whatever pieces travel.
          await this.#replacing(r.first, r.count);
        }
        return {
          type: MessageType.fineOffer,
          body: codecs.fineOffer.encode({ firstBlock: r.first, count: r.count % 2 ** 32, digests }),
        };
      }
      case "fineBlocks":
        return this.#fineBlocks(a.fill, a.seed);
      case "cover": {
        // What a true source would send for the rest: what the target holds, zeros, or data.
        const w = this.#inbox.welcome;
        const how = w?.compare || w?.cached || this.#hello.flags.dryRun ? a.seed % 3 : 1 + (a.seed % 2);
        const t = how === 0 ? "sameRun" : how === 1 ? "zeroRun" : "blocks";
        return this.frameFor({ t, pos: { at: "cursor" }, count: "rest", fill: a.fill, seed: a.seed });
      }
      case "end": {
        const blockCount = a.blockCount === "right" ? this.#blockCount : a.blockCount;
        const fingerprint =
          a.fingerprint === "honest"
            ? this.#honestSum()
            : a.fingerprint === "zero"
              ? Buffer.alloc(16)
              : seededBytes(16, 7);
        const replaced = this.#replaced.toBuffer();
        return { type: MessageType.end, body: codecs.end.encode({ blockCount, fingerprint, replaced }) };
      }
      case "dirBegin": {
        this.#dir = { ...this.#dir, digest: new DirStreamDigest(), entries: 0, bytes: 0, pending: 0 };
        const index = a.index === "next" ? this.#dir.index : a.index;
        return { type: MessageType.dirBegin, body: dirCodecs.begin.encode({ index, root: a.root }) };
      }
      case "dirEntry":
        this.#dir.entries++;
        this.#dir.pending = a.entry.kind === "file" ? a.entry.size : 0;
        return { type: MessageType.dirEntry, body: dirCodecs.entry.encode(a.entry) };
      case "dirData": {
        const size = a.size === "rest" ? Math.min(this.#dir.pending, 64) : a.size;
        this.#dir.bytes += size;
        this.#dir.pending = Math.max(0, this.#dir.pending - size);
        return { type: MessageType.dirData, body: [seededBytes(size, a.seed)] };
      }
      case "dirEnd": {
        const d = this.#dir;
        const end = a.honest
          ? { index: d.index, entries: d.entries, bytes: d.bytes, digest: d.digest.digest() }
          : { index: d.index, entries: d.entries + 1, bytes: d.bytes, digest: seededBytes(32, d.entries) };
        d.index++;
        d.digest = new DirStreamDigest();
        return { type: MessageType.dirEnd, body: dirCodecs.end.encode(end) };
      }
      case "raw":
        return { type: a.type, body: [Buffer.from(a.body)] };
    }
  }

  /** BLOCK_RUNS: the range's first and last blocks sent, those between kept (a true source's, in cached mode). */
  async #blockRuns(pos: Pos, count: Count, fill: Fill, seed: number): Promise<Frame> {
    const { blockSize } = this.#hello;
    const r = this.#range(pos, count);
    const last = r.first + r.count - 1;
    const runs =
      r.count >= 3
        ? [
            { first: r.first, count: 1 },
            { first: last, count: 1 },
          ]
        : [{ first: r.first, count: r.count }];
    const message = { runs, kinds: new Uint8Array(0), sizes: new Uint32Array(0), payload: [] as Buffer[] };
    // Out of range or too large: the runs alone, which no target takes.
    if (!r.inRange || r.count > 64) return { type: MessageType.blockRuns, body: codecs.blockRuns.encode(message) };
    const kinds: Uint8Array[] = [];
    const sizes: Uint32Array[] = [];
    for (const run of runs) {
      const data = filled(fill, this.#bytesOf(run.first, run.count), seed + run.first);
      await this.#account(data, run.first, run.count);
      await this.#replacing(run.first, run.count);
      const blocks = codecs.blocks.decode(await encodeBlocks(data, blockSize, run.first), blockSize);
      kinds.push(blocks.kinds);
      sizes.push(blocks.sizes);
      message.payload.push(...blocks.payload);
    }
    message.kinds = Uint8Array.from(Buffer.concat(kinds));
    message.sizes = Uint32Array.from(sizes.flatMap((s) => [...s]));
    return { type: MessageType.blockRuns, body: codecs.blockRuns.encode(message) };
  }

  /** The whole copy's sum a true source sends at END; cached mode: the cache's, less the blocks replaced, plus those sent. */
  #honestSum(): Buffer {
    if (!this.#inbox.welcome?.cached) return this.#sum.toBuffer();
    const sum = new Fingerprint(this.#hello.cacheFingerprint);
    sum.subtract(this.#replaced.toBuffer());
    sum.add(this.#sum.toBuffer());
    return sum.toBuffer();
  }

  /** The pieces the target asked for in its FINE_NEED for the oldest offer unanswered; or pieces nobody asked for. */
  async #fineBlocks(fill: Fill, seed: number): Promise<Frame> {
    const { fineSize } = this.#hello;
    const offer = this.#offers[this.#needsTaken];
    const asked = offer !== undefined && (await this.#inbox.until(() => this.#inbox.needs.length > this.#needsTaken));
    const need = asked ? this.#inbox.needs[this.#needsTaken++] : undefined;
    if (offer === undefined || need === undefined) {
      const size = fineSize || 4096;
      return { type: MessageType.fineBlocks, body: [await encodeBlocks(filled(fill, size, seed), size, this.#cursor)] };
    }
    const length = this.#bytesOf(offer.first, offer.count);
    const blocks = this.#held(offer.first, offer.count);
    const pieces: Buffer[] = [];
    for (let p = 0; p * fineSize < length; p++) {
      if (((need.bitmap[p >> 3] ?? 0) & (1 << (p & 7))) === 0) continue;
      const piece = filled(fill, Math.min(fineSize, length - p * fineSize), seed + p);
      piece.copy(blocks, p * fineSize);
      pieces.push(piece);
    }
    await this.#account(blocks, offer.first, offer.count);
    return { type: MessageType.fineBlocks, body: [await encodeBlocks(Buffer.concat(pieces), fineSize, offer.first)] };
  }

  /** What the target hashes of a directory's stream: the bodies as sent (mutated or not). */
  sent(type: number, body: Buffer): void {
    if (type === MessageType.dirBegin || type === MessageType.dirEntry || type === MessageType.dirData) {
      this.#dir.digest.add(type as MessageType, [body]);
    }
  }
}

/** Sends HELLO, waits for WELCOME (or the target's end), then plays `actions`; stops once the target stops reading. */
export async function playSource(
  channel: FrameChannel,
  inbox: Inbox,
  setup: SourceSetup,
  actions: Action[],
): Promise<void> {
  try {
    const hello = Buffer.concat(codecs.hello.encode(setup.hello));
    await channel.send(MessageType.hello, [setup.helloMutate ? mutate(hello, setup.helloMutate) : hello]);
    await inbox.until(() => inbox.welcome !== undefined);
    const source = new Source(setup, inbox);
    for (const a of actions) {
      const frame = await source.frameFor(a);
      if (frame === undefined) continue;
      const body = Buffer.concat(frame.body);
      const sent = a.mutate ? mutate(body, a.mutate) : body;
      source.sent(frame.type, sent);
      await channel.send(frame.type as MessageType, [sent]);
      if (a.t === "fineOffer" && a.answer !== undefined) {
        const pieces = await source.frameFor({ t: "fineBlocks", fill: a.answer, seed: body.length });
        if (pieces !== undefined) await channel.send(pieces.type as MessageType, pieces.body);
      }
    }
  } catch (e) {
    // The target closed: what it reported is what the test checks. Anything else is a bug of the script.
    if (!(e instanceof BlockferryError && e.code === "E_NETWORK")) throw e;
  } finally {
    await channel.end();
  }
}
