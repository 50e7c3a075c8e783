/**
 * Bounds-checked reading and writing of message bodies. Every read checks the
 * bytes left; a body with bytes left over after decoding is malformed too.
 * Numbers are big-endian; 64-bit fields must fit in a JavaScript number.
 */
import { BlockferryError } from "../errors.js";

export function protocolError(message: string): BlockferryError {
  return new BlockferryError("E_PROTOCOL", `protocol error: ${message}`);
}

export class BodyReader {
  #buf: Buffer;
  #pos = 0;
  readonly #what: string;

  constructor(buf: Buffer, what: string) {
    this.#buf = buf;
    this.#what = what;
  }

  #take(n: number): number {
    if (this.#buf.length - this.#pos < n) throw protocolError(`${this.#what} is truncated`);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(): number {
    return this.#buf.readUInt8(this.#take(1));
  }
  u16(): number {
    return this.#buf.readUInt16BE(this.#take(2));
  }
  u32(): number {
    return this.#buf.readUInt32BE(this.#take(4));
  }
  u64(): number {
    const v = this.#buf.readBigUInt64BE(this.#take(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`${this.#what}: a 64-bit field is out of range`);
    return Number(v);
  }
  bigU64(): bigint {
    return this.#buf.readBigUInt64BE(this.#take(8));
  }
  bytes(n: number): Buffer {
    const at = this.#take(n);
    return this.#buf.subarray(at, at + n);
  }
  /** A UTF-8 string of at most `max` bytes, prefixed by its length (u16). */
  string(max: number): string {
    const n = this.u16();
    if (n > max) throw protocolError(`${this.#what}: a string of ${n} bytes exceeds ${max}`);
    return this.bytes(n).toString("utf8");
  }
  remaining(): number {
    return this.#buf.length - this.#pos;
  }
  end(): void {
    if (this.#pos !== this.#buf.length) throw protocolError(`${this.#what} has ${this.remaining()} unexpected bytes`);
  }
}

export class BodyWriter {
  #parts: Buffer[] = [];

  u8(v: number): this {
    const b = Buffer.allocUnsafe(1);
    b.writeUInt8(v);
    this.#parts.push(b);
    return this;
  }
  u16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(v);
    this.#parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v);
    this.#parts.push(b);
    return this;
  }
  u64(v: number | bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(v));
    this.#parts.push(b);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this;
  }
  string(s: string, max: number): this {
    const b = Buffer.from(s, "utf8");
    if (b.length > max) throw new BlockferryError("E_INVALID_ARG", `string of ${b.length} bytes exceeds ${max}`);
    return this.u16(b.length).bytes(b);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.#parts);
  }
}
