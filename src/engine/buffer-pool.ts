/**
 * A fixed set of aligned buffers, so memory stays flat whatever the volume
 * size: a role acquires one per batch and releases it once the batch's bytes
 * have left the process (written to disk, or flushed to the socket).
 */
export class BufferPool {
  readonly #free: Buffer[];
  readonly #waiters: Array<(b: Buffer) => void> = [];

  constructor(count: number, allocate: () => Buffer) {
    this.#free = Array.from({ length: count }, allocate);
  }

  async acquire(): Promise<Buffer> {
    const b = this.#free.pop();
    if (b !== undefined) return b;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(b: Buffer): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(b);
    else this.#free.push(b);
  }
}
