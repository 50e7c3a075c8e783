/**
 * The record layer of --insecure-plaintext. After the shared-secret handshake
 * (secret.ts) every byte either way travels in records whose tag only a
 * holder of this session's key for that direction can make:
 *
 *   record  u32 length n (1 to MAX_RECORD), n bytes, 16-byte tag
 *   end     u32 0, 16-byte tag: the sender's last record (its side ends here)
 *   tag     Poly1305 over the length and the bytes, under the one-time key that
 *           ChaCha20 derives from the direction's key and the record's number
 *           (0, 1, 2... in each direction): ChaCha20-Poly1305 (RFC 8439) with the
 *           record as associated data and nothing encrypted
 *
 * So a record altered, injected, dropped, replayed, reordered or sent back
 * to its sender (the other direction has another key) fails its tag, and a
 * stream that stops without an end record, or goes on after one, is refused.
 * The engine and FrameChannel above see a plain byte stream. Nothing is
 * encrypted: anyone on the path reads the bytes.
 */
import { type CipherChaCha20Poly1305, createCipheriv, timingSafeEqual } from "node:crypto";
import { Duplex } from "node:stream";
import { BlockferryError } from "../errors.js";

/** Largest record: a receiver holds one record before it may pass on its first byte. */
export const MAX_RECORD = 1024 * 1024;
export const RECORD_HEADER = 4;
export const RECORD_TAG = 16;

/** This side's keys: one for what it sends, one for what it receives (see secret.ts). */
export interface SessionKeys {
  send: Buffer;
  receive: Buffer;
}

/** Everything is associated data: no plaintext follows it. */
const NOTHING_ENCRYPTED = { plaintextLength: 0 };
/**
 * OpenSSL's Poly1305 runs at half speed (measured: 0.18 against 0.09 CPU
 * seconds per GiB) on a piece of associated data whose length is not a
 * multiple of 128 bytes, as a 4-byte header followed by the data would be.
 */
const BLOCK = 128;

/** The tag of one record; pieces reach Poly1305 in multiples of BLOCK, the odd bytes held for the next. */
class RecordMac {
  readonly #mac: CipherChaCha20Poly1305;
  readonly #carry = Buffer.alloc(BLOCK);
  #held = 0;

  constructor(key: Buffer, seq: number) {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(Math.floor(seq / 2 ** 32), 4);
    nonce.writeUInt32BE(seq >>> 0, 8);
    this.#mac = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: RECORD_TAG });
  }

  update(piece: Buffer): void {
    let rest = piece;
    if (this.#held > 0) {
      const take = Math.min(BLOCK - this.#held, rest.length);
      rest.copy(this.#carry, this.#held, 0, take);
      this.#held += take;
      rest = rest.subarray(take);
      if (this.#held < BLOCK) return;
      this.#mac.setAAD(this.#carry, NOTHING_ENCRYPTED);
      this.#held = 0;
    }
    const whole = rest.length - (rest.length % BLOCK);
    if (whole > 0) this.#mac.setAAD(rest.subarray(0, whole), NOTHING_ENCRYPTED);
    this.#held = rest.copy(this.#carry, 0, whole);
  }

  tag(): Buffer {
    if (this.#held > 0) this.#mac.setAAD(this.#carry.subarray(0, this.#held), NOTHING_ENCRYPTED);
    this.#mac.final();
    return this.#mac.getAuthTag();
  }
}

const refused = (why: string) =>
  new BlockferryError(
    "E_AUTH",
    `${why}: the stream was altered on the way, or the peer is not the one that proved the secret`,
  );

/** Cuts what one side sends into tagged records. */
export class RecordSealer {
  readonly #key: Buffer;
  #seq = 0;

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** The pieces to send for `parts` (the parts themselves, not copied, between headers and tags). */
  seal(parts: readonly Buffer[]): Buffer[] {
    const out: Buffer[] = [];
    let record: Buffer[] = [];
    let size = 0;
    const close = () => {
      out.push(...this.#record(size, record));
      record = [];
      size = 0;
    };
    for (let part of parts) {
      while (part.length > 0) {
        const take = Math.min(part.length, MAX_RECORD - size);
        record.push(take === part.length ? part : part.subarray(0, take));
        size += take;
        part = part.subarray(take);
        if (size === MAX_RECORD) close();
      }
    }
    if (size > 0) close();
    return out;
  }

  /** The end record: nothing may follow it. */
  end(): Buffer[] {
    return this.#record(0, []);
  }

  #record(size: number, parts: Buffer[]): Buffer[] {
    const header = Buffer.allocUnsafe(RECORD_HEADER);
    header.writeUInt32BE(size, 0);
    const mac = new RecordMac(this.#key, this.#seq++);
    mac.update(header);
    for (const p of parts) mac.update(p);
    return [header, ...parts, mac.tag()];
  }
}

/** Checks the records one side receives; passes on their bytes only once their tag is checked. */
export class RecordOpener {
  readonly #key: Buffer;
  #seq = 0;
  #head = Buffer.alloc(RECORD_HEADER);
  #tag = Buffer.alloc(RECORD_TAG);
  /** Bytes of the header or tag gathered so far, or of the data still to come. */
  #have = 0;
  #left = 0;
  #state: "header" | "data" | "tag" = "header";
  #mac: RecordMac | undefined;
  #held: Buffer[] = [];
  /** The peer's end record has come. */
  ended = false;

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** True in the middle of a record (a stream that stops here was cut). */
  get partial(): boolean {
    return this.#state !== "header" || this.#have > 0;
  }

  /** The checked bytes `chunk` completes (views of it, and of earlier chunks); throws E_AUTH. */
  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) throw refused(`${chunk.length - at} bytes came after the peer's end record`);
      if (this.#state === "data") {
        const take = Math.min(this.#left, chunk.length - at);
        const part = chunk.subarray(at, at + take);
        this.#mac?.update(part);
        this.#held.push(part);
        this.#left -= take;
        at += take;
        if (this.#left === 0) this.#state = "tag";
        continue;
      }
      const into = this.#state === "header" ? this.#head : this.#tag;
      const take = Math.min(into.length - this.#have, chunk.length - at);
      chunk.copy(into, this.#have, at, at + take);
      this.#have += take;
      at += take;
      if (this.#have < into.length) continue;
      this.#have = 0;
      if (this.#state === "header") this.#startRecord();
      else out.push(...this.#checkRecord());
    }
    return out;
  }

  #startRecord(): void {
    const size = this.#head.readUInt32BE(0);
    if (size > MAX_RECORD) throw refused(`a record declares ${size} bytes, at most ${MAX_RECORD} are allowed`);
    this.#mac = new RecordMac(this.#key, this.#seq++);
    this.#mac.update(this.#head);
    this.#left = size;
    this.#state = size === 0 ? "tag" : "data";
  }

  #checkRecord(): Buffer[] {
    const expected = (this.#mac as RecordMac).tag();
    if (!timingSafeEqual(expected, this.#tag)) throw refused(`record ${this.#seq - 1} failed its check`);
    const data = this.#held;
    this.#held = [];
    this.#state = "header";
    if (data.length === 0) this.ended = true;
    return data;
  }
}

/**
 * `socket` (a TCP socket past the handshake) as a byte stream of checked
 * records. A failed check destroys it with E_AUTH; a stream cut short, with
 * E_NETWORK. The socket must let each side end on its own (allowHalfOpen).
 */
export class RecordStream extends Duplex {
  readonly #socket: Duplex;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;

  constructor(socket: Duplex, keys: SessionKeys) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.#sealer = new RecordSealer(keys.send);
    this.#opener = new RecordOpener(keys.receive);
    socket.on("data", (chunk: Buffer) => this.#received(chunk));
    socket.on("end", () => {
      if (this.#opener.ended) return;
      const where = this.#opener.partial ? "in the middle of a record" : "without the peer's end record";
      this.destroy(
        new BlockferryError("E_NETWORK", `the connection ended ${where} (the peer stopped, or the stream was cut)`),
      );
    });
    socket.on("error", (e) => this.destroy(e));
    // Once the peer's end record is in, what it sent stays readable: this stream ends by itself.
    socket.on("close", () => {
      if (!this.#opener.ended) this.destroy();
    });
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (e?: Error | null) => void): void {
    this.#send(this.#sealer.seal([chunk]), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (e?: Error | null) => void): void {
    this.#send(this.#sealer.seal(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (e?: Error | null) => void): void {
    this.#send(this.#sealer.end(), () => {});
    this.#socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (e?: Error | null) => void): void {
    this.#socket.destroy();
    callback(error);
  }

  /** Writes `pieces` at once; `callback` runs once the socket no longer holds them (the writer may reuse them). */
  #send(pieces: Buffer[], callback: (e?: Error | null) => void): void {
    const s = this.#socket;
    const last = pieces.pop();
    if (last === undefined) {
      callback();
      return;
    }
    s.cork();
    for (const p of pieces) s.write(p);
    s.write(last, callback);
    s.uncork();
  }

  #received(chunk: Buffer): void {
    let data: Buffer[];
    try {
      data = this.#opener.feed(chunk);
    } catch (e) {
      this.destroy(e as Error);
      return;
    }
    let more = true;
    for (const d of data) more = this.push(d) && more;
    if (this.#opener.ended) this.push(null);
    else if (!more) this.#socket.pause();
  }
}
