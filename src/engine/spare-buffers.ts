/**
 * Buffers handed back for reuse, by length. An offer of the two-level
 * comparison holds its blocks (a 64 KiB block, mostly) from the offer to its
 * pieces; a fresh buffer per offer is memory outside V8's heap that only a
 * full collection frees, and a night of scattered changes makes thousands of
 * them: the garbage collector then ran a mark-compact every 30–40 ms. Spare
 * buffers of the common lengths go round instead, up to `maxBytes` kept.
 */
export class SpareBuffers {
  readonly #allocate: (length: number) => Buffer;
  readonly #maxBytes: number;
  readonly #free = new Map<number, Buffer[]>();
  #bytes = 0;

  constructor(allocate: (length: number) => Buffer, maxBytes: number) {
    this.#allocate = allocate;
    this.#maxBytes = maxBytes;
  }

  /** A buffer of at least `length` bytes (its first `length` are the caller's to use). */
  take(length: number): Buffer {
    const spare = this.#free.get(length)?.pop();
    if (spare === undefined) return this.#allocate(length);
    this.#bytes -= spare.length;
    return spare;
  }

  /** `buffer`, taken for `length` bytes, is no longer in use. */
  give(buffer: Buffer, length: number): void {
    if (this.#bytes + buffer.length > this.#maxBytes) return;
    let list = this.#free.get(length);
    if (list === undefined) {
      list = [];
      this.#free.set(length, list);
    }
    list.push(buffer);
    this.#bytes += buffer.length;
  }
}
