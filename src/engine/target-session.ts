/**
 * One sync on the target, from WELCOME to DONE. `open` decides the plan
 * (target-plan.ts), answers WELCOME and START, and marks the copy incomplete
 * before anything is written; `run` then takes the source's messages in
 * order, one handler per message type, until END. Its collaborators: the
 * block writer (writes behind the network), the digest stream (compare
 * mode), the two-level answers, the checkpoints, and the ending.
 */
import { BlockferryError } from "../errors.js";
import type { Volume } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { Frame } from "../protocol/frames.js";
import {
  type BlockRuns,
  type Blocks,
  type End,
  type FineOffer,
  type Hello,
  MAX_BLOCKS_BYTES,
  MessageType,
  type SameRun,
  type ZeroRun,
} from "../protocol/messages.js";
import { BlockWriter } from "./block-writer.js";
import { DigestQueue } from "./digest-queue.js";
import { FailureLatch } from "./failure-latch.js";
import { FineAnswers } from "./fine-answers.js";
import { Fingerprint, foldZeroRun } from "./fingerprint.js";
import { checkGoodCopy, preserveGoodCopy } from "./good-copy.js";
import { fromPeer, unexpected } from "./peer.js";
import type { TargetState } from "./state.js";
import { TransferStats } from "./stats.js";
import { streamDigests } from "./stream-digests.js";
import { Checkpoints } from "./target-checkpoints.js";
import { planFor } from "./target-facts.js";
import { finishCopy, finishDryRun } from "./target-finish.js";
import { initialState, receiveStart, welcomeOf } from "./target-handshake.js";
import { BEGUN, startBlock, syncMode, type TargetPlan } from "./target-plan.js";
import type { OpenedTarget, TargetOptions, TargetResult } from "./target-types.js";
import { Wakeup } from "./wakeup.js";

/** Bytes between checkpoints (sync, state saved, ACK): the most an interruption loses. */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024;

type Handler = (frame: Frame) => Promise<void>;

export class TargetSession {
  readonly #o: TargetOptions;
  readonly #opened: OpenedTarget;
  readonly #volume: Volume;
  readonly #hello: Hello;
  readonly #plan: TargetPlan;
  readonly #stats: TransferStats;
  readonly #log: (line: string) => void;
  readonly #blockCount: number;
  readonly #fromBlock: number;
  readonly #fingerprint: Fingerprint;
  readonly #state: TargetState;
  /** The state as it was before this sync (a cached update starts from its fingerprint). */
  readonly #saved: TargetState | undefined;
  readonly #writer: BlockWriter;
  readonly #checkpoints: Checkpoints;
  readonly #latch = new FailureLatch();
  readonly #progress = new Wakeup();
  /** Compare mode: our own digests, streamed to the source a bounded distance ahead of #next. */
  readonly #ours: DigestQueue | undefined;
  readonly #streamer: Promise<void> | undefined;
  /** Two-level comparison: offers read and answered, awaiting their pieces. */
  readonly #fine: FineAnswers | undefined;
  readonly #handlers: Map<MessageType, Handler>;
  /** The first block not yet received. */
  #next: number;

  private constructor(
    o: TargetOptions,
    hello: Hello,
    opened: OpenedTarget,
    plan: TargetPlan,
    saved: TargetState | undefined,
    fromBlock: number,
  ) {
    this.#o = o;
    this.#opened = opened;
    this.#volume = opened.volume;
    this.#hello = hello;
    this.#plan = plan;
    this.#stats = o.stats ?? new TransferStats();
    this.#log = o.log ?? (() => {});
    this.#blockCount = Math.ceil(hello.sourceSize / hello.blockSize);
    this.#fromBlock = this.#next = fromBlock;
    const resumeSum = plan.mode.kind === "copy" && fromBlock > 0 ? plan.mode.resumeSum : undefined;
    this.#fingerprint = new Fingerprint(resumeSum);
    this.#saved = saved;
    this.#state = initialState(hello, opened, plan, saved, fromBlock, this.#fingerprint);
    this.#writer = new BlockWriter(opened.volume, hello.blockSize, this.#stats);
    this.#checkpoints = new Checkpoints({
      channel: o.channel,
      volume: opened.volume,
      writer: this.#writer,
      store: opened.state,
      state: this.#state,
      stats: this.#stats,
      blockSize: hello.blockSize,
      sourceSize: hello.sourceSize,
      intervalBlocks: checkpointBlocks(o, hello),
      durable: plan.mode.kind === "copy",
      fromBlock,
    });
    this.#ours = plan.mode.kind === "compare" ? new DigestQueue(0, this.#blockCount) : undefined;
    this.#streamer = this.#ours && this.#streamOurDigests(this.#ours);
    const fineSize = plan.mode.kind !== "copy" && !plan.dryRun ? hello.fineSize : 0;
    this.#fine = fineSize > 0 ? this.#fineAnswers(fineSize) : undefined;
    this.#handlers = new Map<MessageType, Handler>([
      [MessageType.blocks, (f) => this.onBlocks(codecs.blocks.decode(f.parts ?? f.body, hello.blockSize))],
      [MessageType.zeroRun, (f) => this.onZeroRun(codecs.zeroRun.decode(f.body))],
      [MessageType.sameRun, (f) => this.onSameRun(codecs.sameRun.decode(f.body))],
    ]);
    const blockRuns: Handler = (f) => this.onBlockRuns(codecs.blockRuns.decode(f.parts ?? f.body, hello.blockSize));
    if (plan.mode.kind === "cached" && !plan.dryRun) this.#handlers.set(MessageType.blockRuns, blockRuns);
    if (this.#fine !== undefined) {
      this.#handlers.set(MessageType.fineOffer, (f) => this.onFineOffer(codecs.fineOffer.decode(f.body)));
      this.#handlers.set(MessageType.fineBlocks, (f) =>
        this.onFineBlocks(codecs.fineBlocks.decode(f.parts ?? f.body, fineSize)),
      );
    }
  }

  /** Plans the sync, answers WELCOME and START, and marks the copy incomplete before anything is written. */
  static async open(o: TargetOptions, hello: Hello, opened: OpenedTarget): Promise<TargetSession> {
    const stats = o.stats ?? new TransferStats();
    stats.totalBytes = hello.sourceSize;
    const { plan, saved } = await planFor(hello, opened, stats, o.log ?? (() => {}));
    if (plan.cacheRefusal !== "")
      o.log?.(`${opened.describe}: the source's digest cache is not used: ${plan.cacheRefusal}`);
    await o.channel.send(
      MessageType.welcome,
      codecs.welcome.encode(welcomeOf(hello, opened, plan, checkpointBlocks(o, hello))),
    );
    const fromBlock = await receiveStart(o.channel, startBlock(plan));
    const session = new TargetSession({ ...o, stats }, hello, opened, plan, saved, fromBlock);
    await session.#begin();
    return session;
  }

  /** Takes the source's messages until END; the result of a verified copy (anything else throws). */
  async run(): Promise<TargetResult> {
    try {
      for (;;) {
        const frame = await this.#receive();
        if (frame.type === MessageType.end) return await this.onEnd(codecs.end.decode(frame.body));
        const handle = this.#handlers.get(frame.type);
        if (handle === undefined) throw unexpected(frame.type, this.#outOfPlace(frame.type));
        await handle(frame);
        this.#stats.doneBytes = Math.min(this.#next * this.#hello.blockSize, this.#hello.sourceSize);
        this.#ours?.dropBefore(this.#next);
        this.#progress.wake();
        if (!this.#plan.dryRun) await this.#checkpoint();
      }
    } catch (e) {
      await this.#pause();
      if (!this.#plan.dryRun && (await checkGoodCopy(this.#opened, this.#state, this.#log))) {
        await this.#opened.state.save(this.#state).catch(() => {});
      }
      throw e;
    }
  }

  async onBlocks(m: Blocks): Promise<void> {
    this.#refuseInDryRun("BLOCKS");
    this.#checkRange(m.firstBlock, m.kinds.length, "BLOCKS");
    await this.#writeRuns({ ...m, runs: [{ first: m.firstBlock, count: m.kinds.length }] });
  }

  /** Cached mode: runs of changed blocks; the blocks between them are held already (as by SAME_RUN). */
  async onBlockRuns(m: BlockRuns): Promise<void> {
    const first = m.runs[0]?.first ?? 0;
    const last = m.runs.at(-1) ?? { first, count: 0 };
    this.#checkRange(first, last.first + last.count - first, "BLOCK_RUNS");
    await this.#writeRuns(m);
  }

  async #writeRuns(m: BlockRuns): Promise<void> {
    const { sum, bytes } = await this.#writer.receive(m, this.#plan.seed, this.#hello.sourceSize);
    this.#fingerprint.add(sum);
    const end = (m.runs.at(-1)?.first ?? 0) + (m.runs.at(-1)?.count ?? 0);
    this.#stats.sameBytes += this.#bytesOf(this.#next, end - this.#next) - bytes;
    this.#next = end;
  }

  async onZeroRun(m: ZeroRun): Promise<void> {
    this.#refuseInDryRun("ZERO_RUN");
    this.#checkRange(m.firstBlock, m.count, "ZERO_RUN");
    const { blockSize, sourceSize } = this.#hello;
    const length = this.#bytesOf(m.firstBlock, m.count);
    this.#fingerprint.add(await foldZeroRun(m.firstBlock, m.count, blockSize, sourceSize, this.#plan.seed));
    await this.#writer.zeroRange(m.firstBlock * blockSize, length);
    this.#stats.zeroBytes += length;
    this.#next += m.count;
  }

  /** Blocks the target holds already: compare mode folds them from its own digests. */
  async onSameRun(m: SameRun): Promise<void> {
    this.#checkRange(m.firstBlock, m.count, "SAME_RUN");
    const kind = this.#plan.mode.kind;
    if (this.#plan.dryRun) {
      // Only progress: the source compared and counted, and will send nothing else.
    } else if (kind === "cached") {
      // Blocks the cache says we hold: they add nothing to what this run wrote.
      this.#stats.sameBytes += this.#bytesOf(m.firstBlock, m.count);
    } else if (this.#ours !== undefined) {
      if (this.#ours.covered < m.firstBlock + m.count) {
        throw protocolError(`SAME_RUN past the digests sent (${this.#ours.covered})`);
      }
      const { blockSize, sourceSize } = this.#hello;
      this.#fingerprint.add(await this.#ours.fold(m.firstBlock, m.count, blockSize, sourceSize, this.#plan.seed));
      this.#stats.sameBytes += this.#bytesOf(m.firstBlock, m.count);
    } else {
      throw unexpected(MessageType.sameRun, "outside compare mode");
    }
    this.#next += m.count;
  }

  async onFineOffer(m: FineOffer): Promise<void> {
    this.#checkRange(m.firstBlock, m.count, "FINE_OFFER");
    // An honest source offers nothing past two checkpoint intervals beyond the last one acknowledged.
    const window = this.#checkpoints.last + 2 * checkpointBlocks(this.#o, this.#hello);
    if (m.firstBlock + m.count > window) {
      throw protocolError(
        `FINE_OFFER up to block ${m.firstBlock + m.count}, past the window from ${this.#checkpoints.last}`,
      );
    }
    this.#next += m.count;
    await this.#fine?.offer(m, this.#fingerprint);
  }

  async onFineBlocks(m: Blocks): Promise<void> {
    const sum = await (this.#fine as FineAnswers).pieces(m);
    this.#fingerprint.add(sum);
  }

  async onEnd(end: End): Promise<TargetResult> {
    if (end.blockCount !== this.#blockCount || this.#next !== this.#blockCount || (this.#fine?.outstanding ?? 0) > 0) {
      throw protocolError(`END after block ${this.#next} of ${this.#blockCount}`);
    }
    await this.#streamer;
    const { kind } = this.#plan.mode;
    const ending = {
      channel: this.#o.channel,
      opened: this.#opened,
      hello: this.#hello,
      stats: this.#stats,
      log: this.#log,
      mode: syncMode(this.#plan, this.#hello),
      fromBlock: this.#fromBlock,
    };
    if (this.#plan.dryRun) return finishDryRun(ending);
    // Cached mode: the copy's fingerprint is the recorded one, less the blocks replaced, plus those written.
    let written = this.#fingerprint;
    if (kind === "cached") {
      written = new Fingerprint(Buffer.from(this.#saved?.fingerprint ?? "", "hex"));
      written.subtract(end.replaced);
      written.add(this.#fingerprint.toBuffer());
    }
    const copy = { state: this.#state, writer: this.#writer, written, sourceSum: end.fingerprint };
    return finishCopy({ ...ending, ...copy });
  }

  /** The state saved as incomplete before the first write; an image sized to the source's size. */
  async #begin(): Promise<void> {
    const plan = this.#plan;
    const volume = this.#volume;
    const describe = this.#opened.describe;
    const { sourceSize, blockSize } = this.#hello;
    this.#log(
      this.#fromBlock > 0
        ? `${describe}: resuming at byte ${this.#fromBlock * blockSize} of ${sourceSize}`
        : `${describe}: ${BEGUN[syncMode(plan, this.#hello)]} ${sourceSize} bytes from ${this.#hello.sourceId}`,
    );
    this.#stats.resumedFromBytes =
      this.#stats.doneBytes =
      this.#stats.ackedBytes =
        Math.min(this.#fromBlock * blockSize, sourceSize);
    // A dry run changes nothing: no state, no size, no writes.
    if (plan.dryRun) return;
    await preserveGoodCopy(this.#opened, this.#saved, plan.savedIntact, this.#state, this.#log);
    await this.#opened.state.save(this.#state);
    if (!volume.info.isBlockDevice) {
      // A fresh copy into an image starts from all holes (its zero blocks then cost nothing).
      if (this.#fromBlock === 0 && plan.mode.kind === "copy") await volume.setSize(0);
      await volume.setSize(sourceSize);
    }
  }

  /** The source's next frame; a failure of the digest stream or of the answers is reported first. */
  async #receive(): Promise<Frame> {
    const frame = await fromPeer(this.#o.channel, "source").catch((e: unknown) => {
      throw this.#latch.explain(e);
    });
    this.#latch.throwIfFailed();
    if (frame === undefined)
      throw new BlockferryError("E_NETWORK", "the source closed the connection before the end of the copy");
    this.#stats.wireBytes = this.#o.channel.bytesReceived;
    return frame;
  }

  async #checkpoint(): Promise<void> {
    // With offers awaiting their pieces, the acknowledgement stops short of the oldest: the
    // blocks before it are all in. Waiting for no offer at all could hold it back for as long
    // as the source keeps offering, and the source's window with it.
    const oldest = this.#fine?.oldest;
    const [at, sum] = oldest === undefined ? [this.#next, this.#fingerprint] : [oldest.first, oldest.before];
    await this.#checkpoints.reached(at, sum, this.#next, this.#fingerprint);
  }

  /**
   * A copy that stops midway (the link, the source, this disk) leaves its
   * writes done and synced, and records the stamp they left: a resume can
   * then trust the copied part without reading it, while nothing else wrote.
   */
  async #pause(): Promise<void> {
    const state = this.#state;
    if (this.#plan.dryRun || this.#plan.mode.kind !== "copy" || state.complete || state.blocksDone === 0) return;
    await this.#writer.settle();
    try {
      await this.#volume.sync();
      state.pausedStamp = await this.#opened.stamp();
      state.writerPid = undefined;
      await this.#opened.state.save(state);
    } catch {
      // No stamp recorded: the resume reads the copied part again.
    }
  }

  #streamOurDigests(ours: DigestQueue): Promise<void> {
    const streamer = streamDigests({
      volume: this.#volume,
      sourceSize: this.#hello.sourceSize,
      blockSize: this.#hello.blockSize,
      seed: this.#plan.seed,
      channel: this.#o.channel,
      ours,
      stats: this.#stats,
      behind: () => this.#next,
      waitForProgress: () => this.#progress.wait(),
      aheadBytes: this.#o.digestsAheadBytes,
    });
    streamer.catch((e: unknown) => {
      this.#latch.fail(e);
      this.#o.channel.destroy(); // ends the receive loop, which reports the latch's failure
    });
    return streamer;
  }

  #fineAnswers(fineSize: number): FineAnswers {
    return new FineAnswers({
      volume: this.#volume,
      channel: this.#o.channel,
      writer: this.#writer,
      stats: this.#stats,
      blockSize: this.#hello.blockSize,
      fineSize,
      sourceSize: this.#hello.sourceSize,
      seed: this.#plan.seed,
      latch: this.#latch,
    });
  }

  #outOfPlace(type: MessageType): string {
    if (type === MessageType.fineOffer || type === MessageType.fineBlocks) return "outside a two-level comparison";
    if (type === MessageType.blockRuns && !this.#plan.dryRun) return "outside a cached comparison";
    return this.#plan.dryRun ? "in a dry run" : "during a copy";
  }

  #refuseInDryRun(what: string): void {
    if (this.#plan.dryRun) throw protocolError(`${what}: data in a dry run`);
  }

  #checkRange(first: number, count: number, what: string): void {
    if (first !== this.#next || count < 1 || first + count > this.#blockCount) {
      throw protocolError(
        `${what} for blocks ${first}..${first + count}, expected block ${this.#next} of ${this.#blockCount}`,
      );
    }
  }

  #bytesOf(first: number, count: number): number {
    const { blockSize, sourceSize } = this.#hello;
    return Math.min((first + count) * blockSize, sourceSize) - first * blockSize;
  }
}

/** At least one batch per interval, or the source's window could not move. */
function checkpointBlocks(o: TargetOptions, hello: Hello): number {
  const bytes = Math.max(o.checkpointBytes ?? CHECKPOINT_BYTES, MAX_BLOCKS_BYTES, hello.blockSize);
  return Math.floor(bytes / hello.blockSize);
}
