/**
 * The source's acknowledgement window. At most two checkpoint intervals of
 * data travel unacknowledged, so an interruption re-sends at most that; and
 * each ACK must name a message boundary that was sent, with the fingerprint
 * the source computed for the blocks before it (the target's copy of them
 * differs otherwise). Zero and same runs are a few bytes on the wire and
 * never wait: a wait always has over one interval in flight, so the target
 * is bound to reach a checkpoint and acknowledge it.
 */
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import type { Ack } from "../protocol/messages.js";
import type { TransferStats } from "./stats.js";
import { Wakeup } from "./wakeup.js";

export class AckWindow {
  /** Message boundary → the fingerprint of every block before it, hex. */
  readonly #sums = new Map<number, string>();
  readonly #limit: number;
  readonly #stats: TransferStats;
  readonly #bytesBefore: (block: number) => number;
  readonly #acked = new Wakeup();
  #ackedAt: number;

  /** `limit`: blocks that may be unacknowledged; `bytesBefore`: volume bytes before a block. */
  constructor(fromBlock: number, sum: string, limit: number, stats: TransferStats, bytesBefore: (b: number) => number) {
    this.#sums.set(fromBlock, sum);
    this.#ackedAt = fromBlock;
    this.#limit = limit;
    this.#stats = stats;
    this.#bytesBefore = bytesBefore;
  }

  /** A message covering blocks up to `end` was sent; `sum` is the fingerprint of every block before `end`. */
  sent(end: number, sum: string): void {
    this.#sums.set(end, sum);
  }

  /** The target's ACK: checked against what was sent, then the window moves. */
  acknowledge(ack: Ack): void {
    const expected = this.#sums.get(ack.blocksDone);
    if (expected === undefined || ack.blocksDone < this.#ackedAt) {
      throw protocolError(`the target acknowledged block ${ack.blocksDone}, not a boundary sent`);
    }
    if (expected !== ack.fingerprint.toString("hex")) {
      throw new BlockferryError("E_VERIFY", `target's copy of blocks before ${ack.blocksDone} differs from the source`);
    }
    for (const k of this.#sums.keys()) if (k < ack.blocksDone) this.#sums.delete(k);
    this.#ackedAt = ack.blocksDone;
    this.#stats.ackedBytes = this.#bytesBefore(ack.blocksDone);
    this.#acked.wake();
  }

  /** Waits until a message ending at `end` may go, `sentUpTo` being the end of what went before it. */
  async room(end: number, sentUpTo: number, failed: Promise<never>): Promise<void> {
    const started = performance.now();
    while (end - this.#ackedAt > this.#limit && this.#ackedAt < sentUpTo) await this.#acked.wait(failed);
    this.#stats.waitSeconds += (performance.now() - started) / 1000;
  }
}
