/**
 * The target's writes: blocks decoded into buffers are written behind the
 * network, in the order given, so that receiving the next message never waits
 * for the disk unless the disk falls that far behind: at most
 * BYTES_IN_FLIGHT and WRITES_IN_FLIGHT at once. A night of scattered changes
 * is thousands of short writes; two at a time made the receive loop wait for
 * a write at every message. A buffer goes back to its owner once written:
 * whole-batch buffers to a pool, short ones (sized to their message) kept
 * for reuse.
 */
import { BlockKind, decodeUnits, type Volume } from "../native/index.js";
import { type BlockRuns, MAX_BLOCKS_BYTES } from "../protocol/messages.js";
import { mark, timelineOn } from "../timeline.js";
import { BufferPool } from "./buffer-pool.js";
import { SpareBuffers } from "./spare-buffers.js";
import type { TransferStats } from "./stats.js";

/** Whole-batch writes in flight (each holds a MAX_BLOCKS_BYTES buffer). */
const BATCHES_IN_FLIGHT = 2;
/** Any writes in flight, and their bytes. */
const WRITES_IN_FLIGHT = 64;
const BYTES_IN_FLIGHT = 2 * MAX_BLOCKS_BYTES;
/** Messages up to this size are decoded into a buffer of their own size, not a whole-batch one. */
const SHORT_BYTES = 1024 * 1024;

export class BlockWriter {
  readonly #volume: Volume;
  readonly #blockSize: number;
  readonly #stats: TransferStats;
  readonly #pool: BufferPool;
  readonly #spares: SpareBuffers;
  readonly #inFlight: Array<{ write: Promise<unknown>; bytes: number }> = [];

  constructor(volume: Volume, blockSize: number, stats: TransferStats) {
    this.#volume = volume;
    this.#blockSize = blockSize;
    this.#stats = stats;
    // One buffer more than the writes in flight: the next message decodes while they run.
    this.#pool = new BufferPool(BATCHES_IN_FLIGHT + 1, () => volume.allocBuffer(Math.max(MAX_BLOCKS_BYTES, blockSize)));
    this.#spares = new SpareBuffers((length) => volume.allocBuffer(length), BYTES_IN_FLIGHT);
  }

  /** A buffer for `length` bytes of one message's blocks; give it back with release() or through write(). */
  async acquire(length: number): Promise<Buffer> {
    const short = this.#shortLength(length);
    return short === undefined ? this.#pool.acquire() : this.#spares.take(short);
  }

  release(buffer: Buffer): void {
    if (buffer.length >= MAX_BLOCKS_BYTES) this.#pool.release(buffer);
    else this.#spares.give(buffer, buffer.length);
  }

  /** Short messages get buffers in powers of two from 64 KiB, so that a few lengths go round. */
  #shortLength(length: number): number | undefined {
    if (length > SHORT_BYTES || this.#blockSize > SHORT_BYTES) return undefined;
    return Math.max(65536, 2 ** Math.ceil(Math.log2(Math.max(length, this.#blockSize))));
  }

  /**
   * Writes `length` bytes of `buffer` at `offset` (`zero`: 1 for the blocks
   * that are all zero), behind the network; `done` runs once it is written
   * (by default the buffer goes back to the pool).
   */
  async write(buffer: Buffer, offset: number, length: number, zero: Uint8Array, done = () => this.release(buffer)) {
    const write = () => this.#volume.write(buffer, offset, length, { blockSize: this.#blockSize, zero });
    await this.#written(write, buffer, done, { offset, bytes: length });
  }

  /**
   * A message's runs of blocks (BLOCKS: one run), decoded from its chunks straight into place,
   * digested and folded in one native call, then written in one more, behind the network.
   * Returns their part of the fingerprint and their bytes.
   */
  async receive(m: BlockRuns, seed: bigint, sourceSize: number): Promise<{ sum: Buffer; bytes: number }> {
    const blockSize = this.#blockSize;
    // Only the volume's last block can be short, and only the last run can hold it: runs lie block after block.
    const spans = m.runs.map(
      (r) => [r.first * blockSize, Math.min(r.count * blockSize, sourceSize - r.first * blockSize)] as const,
    );
    const length = spans.reduce((n, [, bytes]) => n + bytes, 0);
    const buffer = await this.acquire(length);
    let sum: Buffer;
    try {
      const fold = { blockSize, seed, firstBlock: m.runs[0]?.first ?? 0, runs: m.runs };
      sum = (await decodeUnits(m.payload, m.sizes, m.kinds, buffer.subarray(0, length), blockSize, { fold })).sum;
    } catch (e) {
      this.release(buffer);
      throw e;
    }
    const zero = m.kinds.map((k) => (k === BlockKind.zero ? 1 : 0));
    this.#stats.zeroBytes += zero.reduce((n, z, i) => n + (z ? Math.min(blockSize, length - i * blockSize) : 0), 0);
    await this.#writeSpans(buffer, spans, zero);
    return { sum, bytes: length };
  }

  async #writeSpans(buffer: Buffer, spans: ReadonlyArray<readonly [number, number]>, zero: Uint8Array): Promise<void> {
    const write = () => this.#volume.writeSpans(buffer, spans, { blockSize: this.#blockSize, zero });
    const bytes = spans.reduce((n, [, length]) => n + length, 0);
    await this.#written(write, buffer, () => this.release(buffer), {
      offset: spans[0]?.[0] ?? 0,
      bytes,
      spans: spans.length,
    });
  }

  /** Starts a write behind the network; once it ends: `done`, its seconds counted, its timeline line. */
  async #written(start: () => Promise<unknown>, buffer: Buffer, done: () => void, what: Record<string, number>) {
    const started = performance.now();
    const write = start().finally(() => {
      done();
      const ms = performance.now() - started;
      this.#stats.writeSeconds += ms / 1000;
      if (timelineOn) mark("written", { ...what, callMs: ms });
    });
    await this.#behind(write, buffer.length); // what it holds: a short message's buffer is rounded up
  }

  /** Zeroes a range (a hole in an image, BLKZEROOUT on a device), behind the network. */
  async zeroRange(offset: number, length: number): Promise<void> {
    await this.#behind(this.#volume.zeroRange(offset, length), 0);
  }

  /** Waits for every write so far; the first failure is thrown. */
  async drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#oldest();
  }

  /** After a failure: waits for the writes still running, whatever their outcome. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#inFlight.splice(0).map((w) => w.write));
  }

  async #behind(write: Promise<unknown>, bytes: number): Promise<void> {
    write.catch(() => {}); // awaited in order, by #behind or drain()
    this.#inFlight.push({ write, bytes });
    // Whole-batch writes are held to BATCHES_IN_FLIGHT by their pool.
    const held = () => this.#inFlight.reduce((n, w) => n + w.bytes, 0);
    while (this.#inFlight.length > WRITES_IN_FLIGHT || held() > BYTES_IN_FLIGHT) await this.#oldest();
  }

  async #oldest(): Promise<void> {
    await this.#inFlight.shift()?.write;
  }
}
