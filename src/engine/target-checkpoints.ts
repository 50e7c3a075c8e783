/**
 * The target's checkpoints: once a checkpoint interval of blocks is in, the
 * progress is acknowledged (the source's window moves on, and it checks the
 * prefix's fingerprint). In a copy each checkpoint is also made durable
 * first (writes drained, volume synced, state saved), since a copy resumes
 * from its last checkpoint; a comparison starts again from block 0 after an
 * interruption, so its checkpoints only acknowledge.
 */
import type { Volume } from "../native/index.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { MessageType } from "../protocol/messages.js";
import type { BlockWriter } from "./block-writer.js";
import type { Fingerprint } from "./fingerprint.js";
import type { TargetState, TargetStateStore } from "./state.js";
import type { TransferStats } from "./stats.js";

export interface CheckpointSetup {
  channel: FrameChannel;
  volume: Volume;
  writer: BlockWriter;
  store: TargetStateStore;
  /** The state saved at each durable checkpoint (this object is updated). */
  state: TargetState;
  stats: TransferStats;
  blockSize: number;
  sourceSize: number;
  intervalBlocks: number;
  /** A copy (resumable): each checkpoint is synced and saved before it is acknowledged. */
  durable: boolean;
  fromBlock: number;
}

export class Checkpoints {
  readonly #c: CheckpointSetup;
  /** The block the last acknowledgement reached. */
  #last: number;

  constructor(setup: CheckpointSetup) {
    this.#c = setup;
    this.#last = setup.fromBlock;
  }

  get last(): number {
    return this.#last;
  }

  /**
   * Acknowledges up to `at` (with `sum`, the fingerprint of the blocks before
   * it) once an interval has passed since the last. `next` and `whole`: every
   * block received and their fingerprint, which a durable checkpoint records.
   */
  async reached(at: number, sum: Fingerprint, next: number, whole: Fingerprint): Promise<void> {
    const c = this.#c;
    if (at - this.#last < c.intervalBlocks) return;
    if (c.durable) {
      await c.writer.drain();
      await c.volume.sync();
      c.state.blocksDone = next;
      c.state.fingerprint = whole.hex;
      c.state.updatedAt = new Date().toISOString();
      await c.store.save(c.state);
    }
    this.#last = at;
    c.stats.ackedBytes = Math.min(at * c.blockSize, c.sourceSize);
    await c.channel.send(MessageType.ack, codecs.ack.encode({ blocksDone: at, fingerprint: sum.toBuffer() }));
  }
}
