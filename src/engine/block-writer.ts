/**
 * The target's writes: blocks decoded into pool buffers are written behind
 * the network, at most WRITES_IN_FLIGHT at once and in the order given, so
 * that receiving the next message never waits for the disk unless the disk
 * falls that far behind. A buffer goes back to its owner once written.
 */
import type { Volume } from "../native/index.js";
import { MAX_BLOCKS_BYTES } from "../protocol/messages.js";
import { BufferPool } from "./buffer-pool.js";
import type { TransferStats } from "./stats.js";

const WRITES_IN_FLIGHT = 2;

export class BlockWriter {
  readonly #volume: Volume;
  readonly #blockSize: number;
  readonly #stats: TransferStats;
  readonly #pool: BufferPool;
  readonly #inFlight: Array<Promise<unknown>> = [];

  constructor(volume: Volume, blockSize: number, stats: TransferStats) {
    this.#volume = volume;
    this.#blockSize = blockSize;
    this.#stats = stats;
    // One buffer more than the writes in flight: the next message decodes while they run.
    this.#pool = new BufferPool(WRITES_IN_FLIGHT + 1, () => volume.allocBuffer(Math.max(MAX_BLOCKS_BYTES, blockSize)));
  }

  /** A buffer for one message's blocks; give it back with release() or through write(). */
  acquire(): Promise<Buffer> {
    return this.#pool.acquire();
  }

  release(buffer: Buffer): void {
    this.#pool.release(buffer);
  }

  /**
   * Writes `length` bytes of `buffer` at `offset` (`zero`: 1 for the blocks
   * that are all zero), behind the network; `done` runs once it is written
   * (by default the buffer goes back to the pool).
   */
  async write(buffer: Buffer, offset: number, length: number, zero: Uint8Array, done = () => this.release(buffer)) {
    const started = performance.now();
    const write = this.#volume.write(buffer, offset, length, { blockSize: this.#blockSize, zero }).finally(() => {
      done();
      this.#stats.writeSeconds += (performance.now() - started) / 1000;
    });
    await this.#behind(write);
  }

  /** Zeroes a range (a hole in an image, BLKZEROOUT on a device), behind the network. */
  async zeroRange(offset: number, length: number): Promise<void> {
    await this.#behind(this.#volume.zeroRange(offset, length));
  }

  /** Waits for every write so far; the first failure is thrown. */
  async drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
  }

  /** After a failure: waits for the writes still running, whatever their outcome. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#inFlight.splice(0));
  }

  async #behind(write: Promise<unknown>): Promise<void> {
    write.catch(() => {}); // awaited in order, by #behind or drain()
    this.#inFlight.push(write);
    while (this.#inFlight.length > WRITES_IN_FLIGHT) await this.#inFlight.shift();
  }
}
