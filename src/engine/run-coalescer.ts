/**
 * Runs of blocks the target need not be sent (all zero, or blocks it already
 * holds) merge, across batches, into one ZERO_RUN or SAME_RUN message: a
 * nightly delta of a mostly unchanged volume sends a few dozen messages, not
 * one per batch.
 */

import { codecs } from "../protocol/codecs.js";
import { MessageType } from "../protocol/messages.js";
import { Fingerprint } from "./fingerprint.js";

export type RunKind = "zero" | "same";
/** Sends a message covering blocks up to `end`, whose blocks add `sum` to the fingerprint. */
export type SendCovering = (type: MessageType, body: Buffer[], end: number, sum: Buffer) => Promise<void>;

export class RunCoalescer {
  readonly #send: SendCovering;
  #run: { kind: RunKind; first: number; count: number; sum: Fingerprint } | undefined;

  constructor(send: SendCovering) {
    this.#send = send;
  }

  /** Adds blocks [first, first + count) to the current run, or ends it and starts another. */
  async add(kind: RunKind, first: number, count: number, sum: Buffer): Promise<void> {
    const run = this.#run;
    if (run === undefined || run.kind !== kind || run.first + run.count !== first) {
      await this.flush();
      this.#run = { kind, first, count, sum: new Fingerprint(sum) };
      return;
    }
    run.count += count;
    run.sum.add(sum);
  }

  /** Sends the current run, if any: before any other message, and at the end. */
  async flush(): Promise<void> {
    const run = this.#run;
    if (run === undefined) return;
    this.#run = undefined;
    const { first: firstBlock, count } = run;
    const [type, codec] =
      run.kind === "zero" ? [MessageType.zeroRun, codecs.zeroRun] : [MessageType.sameRun, codecs.sameRun];
    await this.#send(type, codec.encode({ firstBlock, count }), firstBlock + count, run.sum.toBuffer());
  }
}
