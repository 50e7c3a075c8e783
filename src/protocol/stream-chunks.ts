/**
 * A stream's chunks one at a time, as they came, with backpressure. Not the
 * stream's async iterator: that calls read(), which joins every chunk the
 * stream holds into one new buffer (Readable's fromList) — a copy of each
 * byte received whenever the reader fell behind, 1.4 s of CPU on the target
 * in one local bench run. Here the stream flows into a queue that pauses it
 * above QUEUE_BYTES; the frame reader takes chunks as they are.
 */
import type { Duplex } from "node:stream";

/** Bytes queued before the stream is paused (then the peer's sends wait: TCP backpressure). */
const QUEUE_BYTES = 1024 * 1024;

export class StreamChunks {
  readonly #stream: Duplex;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(stream: Duplex) {
    this.#stream = stream;
    stream.on("data", (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= QUEUE_BYTES) stream.pause();
      this.#wakeUp();
    });
    stream.once("end", () => {
      this.#ended = true;
      this.#wakeUp();
    });
    stream.once("error", (e: Error) => this.#fail(e));
    // Closed before its end without an error (destroyed): as the iterator said, a premature close.
    stream.once("close", () => this.#fail(new Error("premature close")));
    // A stream that ended, failed or was paused before it was handed over emits nothing more.
    if (stream.readableEnded) this.#ended = true;
    else if (stream.destroyed) this.#fail(stream.errored ?? new Error("premature close"));
    else if (stream.readableFlowing === false) stream.resume();
  }

  /** Drops what is queued: the channel was destroyed by its owner, whose reader must not go on. */
  drop(): void {
    this.#queue.length = 0;
    this.#queued = 0;
  }

  /** The next chunk; undefined at the stream's end; throws the stream's failure. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk !== undefined) {
        this.#queued -= chunk.length;
        if (this.#queued < QUEUE_BYTES && this.#stream.isPaused()) this.#stream.resume();
        return chunk;
      }
      if (this.#ended) return undefined;
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #fail(e: Error): void {
    if (this.#ended) return;
    this.#failure ??= e;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
