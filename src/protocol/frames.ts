/**
 * Frames over a byte stream: u32 length, u8 type, body. The reader checks the
 * declared length against the type's cap before it buffers anything, so a
 * peer cannot make us allocate more than one legal message.
 */
import type { Duplex } from "node:stream";
import { BlockferryError } from "../errors.js";
import { mark, timelineOn } from "../timeline.js";
import { protocolError } from "./body.js";
import { isMessageType, MAX_BODY, MessageType } from "./messages.js";

export interface Frame {
  type: MessageType;
  /** The body (empty when `parts` holds it). */
  body: Buffer;
  /**
   * A large data message's body (BLOCKS, FINE_BLOCKS) as the chunks it
   * arrived in, never copied into one: its blocks are decoded from there
   * straight into place.
   */
  parts?: Buffer[];
}

const EMPTY = Buffer.alloc(0);

/** Messages whose payload is decoded from its chunks. */
const DATA_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.blocks,
  MessageType.fineBlocks,
  MessageType.blockRuns,
]);

const HEADER = 5;
/** Bodies above this are assembled in one reused buffer instead of a new one each. */
const REUSE_ABOVE = 64 * 1024;

export interface Liveness {
  /** Send a PING after this long without sending anything. */
  pingAfterMs: number;
  /** Give the peer up after waiting this long for its next bytes. */
  idleTimeoutMs: number;
}

/** 60 s without a byte means the peer is gone (BLOCKFERRY_IDLE_MS: tests of a link that goes down). */
const IDLE_MS = Number(process.env.BLOCKFERRY_IDLE_MS) || 60_000;
export const DEFAULT_LIVENESS: Liveness = { pingAfterMs: Math.min(15_000, IDLE_MS / 4), idleTimeoutMs: IDLE_MS };

/**
 * Sending this many frames without a turn of the event loop waits for one. Sends
 * settle in promises while the stream takes more, so a role with its data in
 * memory (a change-tracked night after its few large reads) would keep the
 * loop to itself: in one process (a local sync) the target then wrote nothing,
 * nor saved its state, until the source had sent the whole night; over a
 * socket, timers and acknowledgements wait the same way.
 */
const TURN_FRAMES = 32;

const typeNames = new Map<number, string>(Object.entries(MessageType).map(([name, type]) => [type, name]));
const typeName = (type: number) => typeNames.get(type) ?? String(type);

export class FrameChannel {
  readonly #stream: Duplex;
  readonly #chunks: AsyncIterator<Buffer>;
  #pending: Buffer[] = [];
  #buffered = 0;
  #failure: Error | undefined;
  #ended = false;
  #bodyBuffer: Buffer | undefined;
  #lastSent = Date.now();
  /** Frames sent since the event loop last turned (as a setImmediate saw it); whether one watches for the next. */
  #sentSinceTurn = 0;
  #watchingTurn = false;
  /** When a receive() began waiting for bytes that have not come; undefined when not waiting. */
  #waitingSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(stream: Duplex, liveness: Liveness = DEFAULT_LIVENESS) {
    this.#stream = stream;
    this.#timer = setInterval(() => this.#checkLiveness(liveness), Math.min(liveness.pingAfterMs, 1000));
    this.#timer.unref();
    stream.once("close", () => clearInterval(this.#timer));
    // Not stream[Symbol.asyncIterator](): it destroys the stream when the peer's side
    // ends, dropping what we still have to send (the DONE after the source's END).
    this.#chunks = stream.iterator({ destroyOnReturn: false });
    stream.on("error", (e: Error) => {
      this.#failure ??= e;
    });
  }

  /**
   * Sends one frame; resolves once the stream can take more (backpressure).
   * `onFlushed` runs once the stream no longer holds the body's buffers.
   */
  async send(type: MessageType, body: Buffer[], onFlushed?: () => void): Promise<void> {
    this.#throwIfFailed();
    const length = body.reduce((n, b) => n + b.length, 0);
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32BE(length + 1, 0);
    header.writeUInt8(type, 4);
    const s = this.#stream;
    s.cork();
    const parts = [header, ...body.filter((b) => b.length > 0)];
    let ok = true;
    parts.forEach((b, i) => {
      ok = i === parts.length - 1 && onFlushed ? s.write(b, () => onFlushed()) : s.write(b);
    });
    s.uncork();
    this.bytesSent += HEADER + length;
    this.#lastSent = Date.now();
    if (timelineOn) mark("sent", { type: typeName(type), bytes: length });
    if (!ok) await this.#drained();
    else await this.#takeTurn();
  }

  /** Waits for a turn of the event loop after TURN_FRAMES frames without one. */
  async #takeTurn(): Promise<void> {
    if (++this.#sentSinceTurn >= TURN_FRAMES) {
      await new Promise((resolve) => setImmediate(resolve));
      this.#sentSinceTurn = 0;
    } else if (!this.#watchingTurn) {
      this.#watchingTurn = true;
      setImmediate(() => {
        this.#watchingTurn = false;
        this.#sentSinceTurn = 0;
      });
    }
  }

  /**
   * The next frame, or undefined when the peer closed cleanly between frames.
   * A body is valid until the next call: large control bodies share one
   * buffer, so memory stays flat (decoders copy what they keep); a data
   * message's chunks are the socket's own.
   */
  async receive(): Promise<Frame | undefined> {
    for (;;) {
      if (!(await this.#fill(HEADER, true))) return undefined;
      const header = this.#take(HEADER);
      const length = header.readUInt32BE(0);
      const type = header.readUInt8(4);
      if (!isMessageType(type)) throw protocolError(`unknown message type ${type}`);
      if (length < 1 || length - 1 > MAX_BODY[type])
        throw protocolError(`message type ${type} declares ${length} bytes`);
      await this.#fill(length - 1, false);
      if (timelineOn) mark("received", { type: typeName(type), bytes: length - 1 });
      if (DATA_TYPES.has(type) && length - 1 > REUSE_ABOVE) {
        return { type, body: EMPTY, parts: this.#takeParts(length - 1) };
      }
      const body = this.#take(length - 1, length - 1 > REUSE_ABOVE);
      if (type !== MessageType.ping) return { type, body };
    }
  }

  /** Ends our side of the stream after what was sent. */
  async end(): Promise<void> {
    if (this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#stream.end();
  }

  /** Resolves once the stream has closed (both ways), or after `ms`. */
  closed(ms: number): Promise<void> {
    if (this.#stream.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#stream.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(error?: Error): void {
    clearInterval(this.#timer);
    this.#stream.destroy(error);
  }

  #checkLiveness(l: Liveness): void {
    const now = Date.now();
    if (this.#waitingSince !== undefined && now - this.#waitingSince > l.idleTimeoutMs) {
      this.#failure ??= new Error(`nothing received for ${Math.round(l.idleTimeoutMs / 1000)} s`);
      this.destroy(this.#failure);
    } else if (now - this.#lastSent > l.pingAfterMs && !this.#stream.writableEnded && !this.#stream.destroyed) {
      this.send(MessageType.ping, []).catch(() => {});
    }
  }

  #drained(): Promise<void> {
    const s = this.#stream;
    return new Promise((resolve, reject) => {
      const done = (failed: boolean) => {
        s.off("drain", onDrain);
        s.off("close", onClose);
        if (!failed) return resolve();
        try {
          this.#throwIfFailed(true);
        } catch (e) {
          reject(e);
        }
      };
      const onDrain = () => done(false);
      const onClose = () => done(true);
      s.on("drain", onDrain);
      s.on("close", onClose);
    });
  }

  #throwIfFailed(closed = false): void {
    if (this.#failure) throw networkError(this.#failure);
    if (closed || this.#stream.destroyed) throw networkError(new Error("connection closed"));
  }

  /** Waits until `n` bytes are buffered. False at a clean end before any byte (when allowed). */
  async #fill(n: number, endAllowed: boolean): Promise<boolean> {
    while (this.#buffered < n) {
      let next: IteratorResult<Buffer>;
      this.#waitingSince = Date.now();
      try {
        next = this.#ended ? { done: true, value: undefined } : await this.#chunks.next();
      } catch (e) {
        throw networkError(e);
      } finally {
        this.#waitingSince = undefined;
      }
      if (next.done) {
        this.#ended = true;
        if (this.#failure) throw networkError(this.#failure);
        if (endAllowed && this.#buffered === 0) return false;
        throw new BlockferryError("E_NETWORK", "the connection closed in the middle of a message");
      }
      this.#pending.push(next.value);
      this.#buffered += next.value.length;
      this.bytesReceived += next.value.length;
    }
    return true;
  }

  /** The next `n` buffered bytes as the chunks that hold them (no copy). */
  #takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    for (let left = n; left > 0; ) {
      const chunk = this.#pending[0] as Buffer;
      const use = Math.min(chunk.length, left);
      parts.push(chunk.subarray(0, use));
      if (use === chunk.length) this.#pending.shift();
      else this.#pending[0] = chunk.subarray(use);
      left -= use;
    }
    this.#buffered -= n;
    return parts;
  }

  #take(n: number, reuse = false): Buffer {
    const first = this.#pending[0];
    let out: Buffer;
    if (!reuse && first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#pending.shift();
      else this.#pending[0] = first.subarray(n);
    } else {
      if (reuse) {
        if (this.#bodyBuffer === undefined || this.#bodyBuffer.length < n) this.#bodyBuffer = Buffer.allocUnsafe(n);
        out = this.#bodyBuffer.subarray(0, n);
      } else {
        out = Buffer.allocUnsafe(n);
      }
      let at = 0;
      while (at < n) {
        const chunk = this.#pending[0] as Buffer;
        const use = Math.min(chunk.length, n - at);
        chunk.copy(out, at, 0, use);
        at += use;
        if (use === chunk.length) this.#pending.shift();
        else this.#pending[0] = chunk.subarray(use);
      }
    }
    this.#buffered -= n;
    return out;
  }
}

export function networkError(e: unknown): BlockferryError {
  if (e instanceof BlockferryError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BlockferryError("E_NETWORK", `connection failed: ${message}`, { cause: e });
}
