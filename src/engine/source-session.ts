/**
 * One sync on the source, from HELLO to DONE. `open` says HELLO, takes
 * WELCOME and checks a resumed copy's part; `run` reads the volume in
 * batches, turns each into messages (source-plan.ts decides which), sends
 * them within the acknowledgement window, then END, and waits for DONE. The
 * target's messages arrive meanwhile on the peer listener, one handler per
 * type.
 */
import { BlockferryError } from "../errors.js";
import { DIGEST_SIZE, type Volume } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { DIGESTS_AHEAD_BYTES, type Done, FINGERPRINT_SIZE, MessageType, type Welcome } from "../protocol/messages.js";
import { AckWindow } from "./ack-window.js";
import { blocksMessage } from "./blocks-message.js";
import type { CachedDigests } from "./digest-cache.js";
import { DigestQueue } from "./digest-queue.js";
import { type DirReport, sendDirectories } from "./dir-transfer.js";
import { FineOffers, type Transmit } from "./fine-offers.js";
import { Fingerprint, foldBatch, foldZeroRun } from "./fingerprint.js";
import { GATHERED_RUN_BYTES, GatheredRuns } from "./gathered-runs.js";
import { PeerListener, unexpected } from "./peer.js";
import { ReplyQueue } from "./reply-queue.js";
import { RunCoalescer, type SendCovering } from "./run-coalescer.js";
import { checkWelcome, helloOf, receiveWelcome, resumePoint } from "./source-handshake.js";
import { countWouldSend, type PlannedBatch, piecesOf, planBatch, type Step } from "./source-plan.js";
import type { SourceOptions, SourceResult } from "./source-types.js";
import { TransferStats } from "./stats.js";
import { BATCH_BYTES, type DataBatch } from "./volume-reader.js";
import { Wakeup } from "./wakeup.js";

/** How the target takes this sync, as WELCOME said: a copy, a comparison with its digests, or with the cache. */
export type SourceMode = "copy" | "compare" | "cached";

const ZERO_SUM = Buffer.alloc(FINGERPRINT_SIZE);

/** Digests of an all-zero full block and of the volume's (possibly short) last block. */
export interface ZeroDigests {
  full: Buffer;
  tail: Buffer;
}

export class SourceSession {
  readonly #o: SourceOptions;
  readonly #channel: FrameChannel;
  readonly #volume: Volume;
  readonly #stats: TransferStats;
  readonly #welcome: Welcome;
  readonly #mode: SourceMode;
  readonly #dry: boolean;
  readonly #blockSize: number;
  readonly #size: number;
  readonly #blockCount: number;
  readonly #fromBlock: number;
  readonly #seed: bigint;
  readonly #offered: CachedDigests | undefined;
  /** The fingerprint the stream's messages add up to (in cached mode, only the blocks sent). */
  readonly #streamed: Fingerprint;
  /** Every block's fingerprint: what END reports and DONE must match. */
  readonly #whole: Fingerprint;
  /** Cached mode: what the cache says the target held where blocks were sent. */
  readonly #replaced = new Fingerprint();
  readonly #window: AckWindow;
  readonly #runs: RunCoalescer | GatheredRuns;
  /** Cached mode (one level): short changed runs gathered into BLOCK_RUNS; the same object as #runs. */
  readonly #gathered: GatheredRuns | undefined;
  readonly #peer: PeerListener;
  /** Compare and cached modes: the target's digests, as they stream in (or from the cache). */
  readonly #theirs: DigestQueue | undefined;
  readonly #fine: FineOffers | undefined;
  readonly #dirReplies = new ReplyQueue();
  readonly #zeros: ZeroDigests;
  readonly #doneArrived = new Wakeup();
  #done: Done | undefined;
  #endSent = false;
  /** The end of the last message sent. */
  #sent: number;

  private constructor(
    o: SourceOptions,
    offered: CachedDigests | undefined,
    welcome: Welcome,
    fromBlock: number,
    prefix: Fingerprint,
    zeros: ZeroDigests,
  ) {
    this.#o = o;
    this.#channel = o.channel;
    this.#volume = o.volume;
    this.#stats = o.stats ?? new TransferStats();
    this.#welcome = welcome;
    this.#mode = welcome.cached ? "cached" : welcome.compare ? "compare" : "copy";
    this.#dry = o.dryRun ?? false;
    this.#blockSize = o.blockSize;
    this.#size = o.volume.size;
    this.#blockCount = Math.ceil(this.#size / this.#blockSize);
    this.#fromBlock = this.#sent = fromBlock;
    this.#seed = welcome.seed;
    this.#offered = offered;
    this.#streamed = new Fingerprint(prefix.toBuffer());
    this.#whole = new Fingerprint(prefix.toBuffer());
    this.#zeros = zeros;
    this.#window = new AckWindow(fromBlock, prefix.hex, 2 * welcome.checkpointBlocks, this.#stats, (b) =>
      this.#bytesBefore(b),
    );
    const send: SendCovering = (type, body, end, sum) => this.#send(type, body, end, sum);
    const runs = new RunCoalescer(send);
    this.#theirs = this.#mode === "copy" ? undefined : new DigestQueue(fromBlock, this.#blockCount);
    this.#peer = new PeerListener(
      this.#channel,
      (type, body) => this.#onTargetMessage(type, body),
      "target",
      () => this.#done !== undefined,
    );
    // Cached mode too: the target reads only offered blocks; changed pieces travel, not whole blocks.
    this.#fine = this.#mode !== "copy" && (o.fineSize ?? 0) > 0 ? this.#fineOffers(o.fineSize ?? 0) : undefined;
    const gather = this.#mode === "cached" && !this.#dry && this.#fine === undefined;
    this.#gathered = gather ? new GatheredRuns(runs, send, welcome.checkpointBlocks, this.#blockSize) : undefined;
    this.#runs = this.#gathered ?? runs;
  }

  /** HELLO, WELCOME, the check of a resumed copy's part, START. */
  static async open(
    o: SourceOptions,
    offered: CachedDigests | undefined,
    zeros: (seed: bigint) => Promise<ZeroDigests>,
  ): Promise<SourceSession> {
    const stats = o.stats ?? new TransferStats();
    stats.totalBytes = o.volume.size;
    await o.channel.send(MessageType.hello, codecs.hello.encode(helloOf(o, offered)));
    const welcome = await receiveWelcome(o.channel);
    checkWelcome(o, offered, welcome, stats);
    const { fromBlock, prefix } = await resumePoint(o, welcome, stats);
    stats.resumedFromBytes = stats.doneBytes = stats.ackedBytes = Math.min(fromBlock * o.blockSize, o.volume.size);
    await o.channel.send(MessageType.start, codecs.start.encode({ fromBlock }));
    return new SourceSession({ ...o, stats }, offered, welcome, fromBlock, prefix, await zeros(welcome.seed));
  }

  get welcome(): Welcome {
    return this.#welcome;
  }

  get fromBlock(): number {
    return this.#fromBlock;
  }

  get zeros(): ZeroDigests {
    return this.#zeros;
  }

  /** Sends one batch as read (compare mode: once the target's digests are in), or known blocks (source-tracked.ts). */
  async sendBatch(read: PlannedBatch): Promise<void> {
    const theirs = this.#theirs;
    if (read.kind === "known" && this.#mode !== "cached")
      throw new BlockferryError("E_INTERNAL", "known blocks uncached");
    const maxBlocks = theirs === undefined ? Number.POSITIVE_INFINITY : this.#batchBlocks();
    for (const batch of piecesOf(read, maxBlocks)) {
      this.#peer.throwIfFailed();
      const end = batch.firstBlock + batch.count;
      if (theirs !== undefined) {
        if (this.#mode === "cached") await this.#offered?.fill(theirs, end);
        const waited = performance.now();
        await theirs.cover(end, this.#peer.failed());
        this.#stats.waitSeconds += (performance.now() - waited) / 1000;
      }
      this.#stats.comparedBlocks += batch.count;
      await this.#sendSteps(batch);
      if (theirs !== undefined) {
        // A comparing target streams digests only so far ahead of its progress: report ours each batch.
        if (this.#mode === "compare") await this.#runs.flush();
        theirs.dropBefore(end);
      }
    }
  }

  /** After the last batch: END, then DONE awaited; --with-dir directories follow a confirmed copy. */
  async finish(): Promise<SourceResult> {
    const peer = this.#peer;
    try {
      await this.#runs.flush();
      await this.#fine?.drained(peer.failed()); // every offer answered and its pieces sent before END
      if (!this.#dry) await this.#o.beforeEnd?.();
      this.#endSent = true;
      const end = {
        blockCount: this.#blockCount,
        fingerprint: this.#whole.toBuffer(),
        replaced: this.#replaced.toBuffer(),
      };
      // END adds nothing to the sum: it goes through #send only to keep the order of messages.
      await this.#send(MessageType.end, codecs.end.encode(end), this.#blockCount, ZERO_SUM);
      await Promise.race([this.#doneReceived(), peer.finished, peer.failed()]);
      // A copy the target could not confirm is the verdict, whatever the connection does next.
      if (this.#done !== undefined && !this.#done.verified && !this.#dry) return this.#result([]);
      const dirs = await this.#sendDirectories();
      // Our end of the stream tells the target we have read DONE; it then closes too.
      await this.#channel.end();
      if (this.#o.awaitTargetClose !== false) await Promise.race([peer.finished, peer.failed()]);
      peer.throwIfFailed();
      return this.#result(dirs);
    } catch (e) {
      throw peer.explain(e);
    }
  }

  /** The first failure of the target's side (its ERROR, a broken message), else `e`. */
  explain(e: unknown): unknown {
    return this.#peer.explain(e);
  }

  async #sendSteps(batch: PlannedBatch): Promise<void> {
    // Messages referring to the batch's buffer: it goes back to the pool when the last is flushed.
    let holders = 1;
    const releaseOne = () => {
      if (--holders === 0 && batch.kind === "data") batch.release();
    };
    const steps = planBatch({
      batch,
      theirs: this.#theirs && ((b) => (this.#theirs as DigestQueue).at(b)),
      theirRange: this.#theirs && ((b, n) => (this.#theirs as DigestQueue).range(b, n)),
      zeros: this.#zeros,
      lastBlock: this.#blockCount - 1,
      twoLevel: this.#fine !== undefined,
    });
    for (const step of steps) {
      if (this.#dry) {
        // Dry run: what would travel is counted; the target is told only how far the comparison got.
        countWouldSend(batch, step, this.#stats, this.#blockSize, this.#size);
        await this.#runs.add("same", step.first, step.count, ZERO_SUM);
        continue;
      }
      const sum = await this.#sumOf(batch, step);
      this.#whole.add(sum);
      if (step.kind === "same") {
        this.#stats.sameBytes += this.#bytesOf(step.first, step.count);
        // Cached mode: the target can check only the blocks it is sent.
        await this.#runs.add("same", step.first, step.count, this.#mode === "cached" ? ZERO_SUM : sum);
        continue;
      }
      if (this.#mode === "cached") {
        const theirs = this.#theirs as DigestQueue;
        this.#replaced.add(await theirs.fold(step.first, step.count, this.#blockSize, this.#size, this.#seed));
      }
      this.#stats.changedBlocks += step.count;
      if (step.kind === "zero") {
        this.#stats.zeroBytes += this.#bytesOf(step.first, step.count);
        await this.#runs.add("zero", step.first, step.count, sum);
      } else if (step.kind === "offer") {
        await this.#offer(batch as DataBatch, step, sum);
      } else if (this.#gathered !== undefined && this.#bytesOf(step.first, step.count) < GATHERED_RUN_BYTES) {
        await this.#gathered.blocks(await this.#blocksMessage(batch as DataBatch, step), sum);
      } else {
        holders++;
        await this.#sendBlocks(batch as DataBatch, step, sum, releaseOne);
      }
    }
    releaseOne();
  }

  /** Offer the pieces' digests; the pieces the target lacks go once it says which (fine-offers.ts). */
  async #offer(batch: DataBatch, step: Step, sum: Buffer): Promise<void> {
    await this.#runs.flush();
    // The offer keeps a copy, so the batch's buffer goes back to the read-ahead now rather than
    // after the target's answer.
    const at = step.first - batch.firstBlock;
    const end = Math.min((at + step.count) * this.#blockSize, batch.length);
    const fine = this.#fine as FineOffers;
    const blocks = batch.buffer.subarray(at * this.#blockSize, end);
    await fine.room(blocks.length, this.#peer.failed());
    const offer = await fine.offer(step.first, step.count, blocks, this.#seed);
    await this.#send(MessageType.fineOffer, offer, step.first + step.count, sum);
  }

  async #sendBlocks(batch: DataBatch, step: Step, sum: Buffer, onFlushed: () => void): Promise<void> {
    await this.#runs.flush();
    const message = await this.#blocksMessage(batch, step);
    await this.#send(MessageType.blocks, codecs.blocks.encode(message), step.first + step.count, sum, onFlushed);
  }

  #blocksMessage(batch: DataBatch, step: Step) {
    const at = step.first - batch.firstBlock;
    return blocksMessage(batch, at, step.count, this.#blockSize, this.#o.compress ?? false, this.#stats);
  }

  /** The fingerprint contribution of a step's blocks. */
  #sumOf(batch: PlannedBatch, step: Step): Promise<Buffer> {
    const { blockSize, size, seed } = { blockSize: this.#blockSize, size: this.#size, seed: this.#seed };
    if (batch.kind === "hole") return foldZeroRun(step.first, step.count, blockSize, size, seed);
    if (batch.kind === "known")
      return (this.#theirs as DigestQueue).fold(step.first, step.count, blockSize, size, seed);
    const digests = batch.digests.subarray((step.first - batch.firstBlock) * DIGEST_SIZE);
    return foldBatch(digests, step.count, step.first, this.#seed);
  }

  /** Every message goes out through here: the window for data, then the rate limit and the wire. */
  async #send(type: MessageType, body: Buffer[], end: number, sum: Buffer, onFlushed?: () => void): Promise<void> {
    if (type === MessageType.blocks || type === MessageType.blockRuns || type === MessageType.fineOffer) {
      await this.#window.room(end, this.#sent, this.#peer.failed());
    }
    this.#streamed.add(sum);
    this.#window.sent(end, this.#streamed.hex);
    this.#sent = end;
    this.#stats.doneBytes = this.#bytesBefore(end);
    await this.#transmit(type, body, onFlushed);
  }

  async #transmit(type: MessageType, body: Buffer[], onFlushed?: () => void): Promise<void> {
    await this.#o.rateLimiter?.take(body.reduce((n, b) => n + b.length, 5));
    await this.#channel.send(type, body, onFlushed);
    this.#stats.wireBytes = this.#channel.bytesSent;
  }

  #onTargetMessage(type: MessageType, body: Buffer): void {
    if (type === MessageType.ack) {
      this.#window.acknowledge(codecs.ack.decode(body));
    } else if (type === MessageType.digests && this.#mode === "compare") {
      this.#onDigests(body);
    } else if (type === MessageType.fineNeed && this.#fine !== undefined) {
      this.#fine.answer(codecs.fineNeed.decode(body));
    } else if (type === MessageType.done) {
      if (!this.#endSent) throw protocolError("DONE before END");
      this.#done = codecs.done.decode(body);
      this.#stats.targetReadBytes = this.#done.targetReadBytes;
      this.#stats.targetWriteSeconds = this.#done.targetWriteMs / 1000;
      this.#doneArrived.wake();
    } else if (type === MessageType.dirDone && this.#done !== undefined) {
      this.#dirReplies.push(body);
    } else {
      throw unexpected(type, "from a target during a copy");
    }
  }

  #onDigests(body: Buffer): void {
    const d = codecs.digests.decode(body);
    const ahead = Math.ceil(DIGESTS_AHEAD_BYTES / this.#blockSize);
    if (d.firstBlock + d.count > this.#sent + ahead) {
      throw protocolError(`DIGESTS up to block ${d.firstBlock + d.count}, far ahead of ${this.#sent}`);
    }
    this.#theirs?.add(d);
    this.#stats.digestBytes += body.length + 5;
  }

  async #doneReceived(): Promise<void> {
    while (this.#done === undefined) await this.#doneArrived.wait();
  }

  async #sendDirectories(): Promise<DirReport[]> {
    const dirs = this.#o.dirs ?? [];
    if (this.#dry || !this.#done?.verified || dirs.length === 0) return [];
    const peer = this.#peer;
    const io = {
      send: (type: MessageType, body: Buffer[]) => this.#transmit(type, body),
      reply: () => Promise.race([this.#dirReplies.next(), peer.failed()]),
    };
    return sendDirectories(io, dirs, this.#o.log ?? (() => {}));
  }

  #result(dirs: DirReport[]): SourceResult {
    const done = this.#done;
    const compared = this.#mode !== "copy";
    const cached = this.#mode === "cached";
    const stats = this.#stats;
    if (this.#dry && done !== undefined) {
      return { fingerprint: "0".repeat(32), resumedFromBlock: 0, compared, cached, stats, dirs: [] };
    }
    if (done === undefined)
      throw new BlockferryError("E_NETWORK", "the target closed the connection before confirming the copy");
    if (!done.verified || !this.#whole.equals(done.fingerprint)) {
      throw new BlockferryError(
        "E_VERIFY",
        `the copy's fingerprint ${done.fingerprint.toString("hex")} differs from the source's ${this.#whole.hex}; the target stays marked incomplete`,
      );
    }
    return { fingerprint: this.#whole.hex, resumedFromBlock: this.#fromBlock, compared, cached, stats, dirs };
  }

  #fineOffers(fineSize: number): FineOffers {
    const fail = (e: BlockferryError) => {
      this.#peer.fail(e);
      this.#channel.destroy();
    };
    const transmit: Transmit = (type, body, onFlushed) => this.#transmit(type, body, onFlushed);
    return new FineOffers(fineSize, this.#o.compress ?? false, this.#stats, transmit, fail);
  }

  #batchBlocks(): number {
    return Math.ceil(Math.max(BATCH_BYTES, this.#blockSize) / this.#blockSize);
  }

  #bytesBefore(block: number): number {
    return Math.min(block * this.#blockSize, this.#size);
  }

  #bytesOf(first: number, count: number): number {
    return this.#bytesBefore(first + count) - first * this.#blockSize;
  }
}
