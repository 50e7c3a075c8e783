/**
 * A block device or image file opened for batched, digested I/O. Transfers
 * cover whole blocks (offsets are multiples of the block size) and run on
 * worker threads; buffers come from `volume.allocBuffer` so O_DIRECT can use
 * them.
 */
import { BlockferryError } from "../errors.js";
import {
  checkBytes,
  checkInteger,
  checkMultiple,
  checkObject,
  checkPowerOfTwo,
  checkSeed,
  checkString,
  invalid,
} from "../validate.js";
import { addon, type RawVolume, type RawVolumeInfo, type RawZeroMethod } from "./addon.js";
import { MAX_BATCH_BYTES, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from "./limits.js";
import { callNative, callNativeSync } from "./native-error.js";
import { pin } from "./pin.js";

export interface OpenOptions {
  /** Open for writing (a target). A block device is then claimed with O_EXCL: refused while mounted. */
  write?: boolean;
  /** With write: create a missing image file (of size 0; see setSize). */
  create?: boolean;
  /** Try O_DIRECT (default true). It is dropped silently where the filesystem refuses it. */
  direct?: boolean;
}

export interface VolumeInfo extends RawVolumeInfo {
  path: string;
}

export interface ReadOptions {
  blockSize: number;
  /** Digest each block (XXH3-128) with this seed and flag all-zero blocks. */
  seed?: bigint;
}

export interface ReadResult {
  /** Every request went through O_DIRECT. */
  direct: boolean;
  /** Time spent reading, and digesting and checking for zeros, on the worker thread. */
  readSeconds: number;
  hashSeconds: number;
  /** 16 bytes per block, when a seed was given. */
  digests: Buffer | undefined;
  /** 1 per all-zero block, 0 otherwise, when a seed was given. */
  zero: Buffer | undefined;
}

export interface WriteOptions {
  blockSize: number;
  /** One flag per block: runs of flagged blocks become holes or zero-outs, their bytes are not read. */
  zero?: Uint8Array;
}

export interface WriteResult {
  bytesWritten: number;
  bytesZeroed: number;
  direct: boolean;
  zeroMethod: ZeroMethod;
}

export type ZeroMethod = RawZeroMethod;

export async function openVolume(path: string, options: OpenOptions = {}): Promise<Volume> {
  checkString("path", path);
  const write = options.write ?? false;
  const raw = await callNative(() =>
    addon.openVolume(path, write, write && (options.create ?? false), options.direct ?? true),
  );
  return new Volume(path, raw);
}

export class Volume {
  readonly path: string;
  #raw: RawVolume | undefined;
  /** Transfers under way: close() waits for them, so the device is free when it resolves. */
  readonly #inFlight = new Set<Promise<unknown>>();

  /** Use openVolume(). */
  constructor(path: string, raw: RawVolume) {
    this.path = path;
    this.#raw = raw;
  }

  get info(): VolumeInfo {
    return { path: this.path, ...this.#open("info").info() };
  }

  get size(): number {
    return this.#open("size").info().size;
  }

  get closed(): boolean {
    return this.#raw === undefined;
  }

  /** A buffer O_DIRECT can use for `length` bytes of this volume. */
  allocBuffer(length: number): Buffer {
    const { alignment } = this.#open("allocBuffer").info();
    checkInteger("length", length, 0, MAX_BATCH_BYTES);
    return callNativeSync(() => addon.allocAligned(Math.ceil(length / alignment) * alignment, alignment));
  }

  /** Reads `length` bytes at `offset` into `buffer`, digesting each block in the same pass. */
  async read(buffer: Uint8Array, offset: number, length: number, options: ReadOptions): Promise<ReadResult> {
    const raw = this.#open("read");
    const blockSize = this.#checkTransfer(raw, buffer, offset, length, checkObject("options", options).blockSize);
    const seed = options.seed === undefined ? 0n : checkSeed("seed", options.seed);
    return this.#track(() => raw.read(pin(buffer), offset, length, blockSize, seed, options.seed !== undefined));
  }

  /**
   * Reads scattered ranges, `[offset, length]` each, in one native call: each lands in `buffer`
   * at the next block boundary after the previous one, every block digested (with `seed`).
   */
  async readSpans(
    buffer: Uint8Array,
    spans: ReadonlyArray<readonly [number, number]>,
    options: Required<ReadOptions>,
  ): Promise<ReadResult> {
    const raw = this.#open("readSpans");
    checkObject("options", options);
    const blockSize = this.#checkSpans(raw, buffer, spans, options.blockSize);
    const seed = checkSeed("seed", options.seed);
    return this.#track(() => raw.readSpans(pin(buffer), spans.flat(), blockSize, seed));
  }

  /** Writes `length` bytes of `buffer` at `offset`; flagged zero blocks become holes. */
  async write(buffer: Uint8Array, offset: number, length: number, options: WriteOptions): Promise<WriteResult> {
    const raw = this.#open("write");
    this.#checkWritable(raw);
    const blockSize = this.#checkTransfer(raw, buffer, offset, length, checkObject("options", options).blockSize);
    const zero = options.zero === undefined ? null : pin(checkBytes("zero", options.zero));
    const blocks = Math.ceil(length / blockSize);
    if (zero !== null && zero.length < blocks) throw invalid("zero", `${blocks} flags (one per block)`, zero);
    return this.#track(() => raw.write(pin(buffer), offset, length, blockSize, zero));
  }

  /**
   * Writes scattered ranges, `[offset, length]` each, in one native call: each taken from `buffer`
   * at the next block boundary after the previous one (as readSpans lays them out); `zero` flags
   * the blocks of all of them, in turn.
   */
  async writeSpans(
    buffer: Uint8Array,
    spans: ReadonlyArray<readonly [number, number]>,
    options: WriteOptions,
  ): Promise<WriteResult> {
    const raw = this.#open("writeSpans");
    this.#checkWritable(raw);
    checkObject("options", options);
    const blockSize = this.#checkSpans(raw, buffer, spans, options.blockSize);
    const blocks = spans.reduce((n, [, length]) => n + Math.ceil(length / blockSize), 0);
    const zero = options.zero === undefined ? null : pin(checkBytes("zero", options.zero));
    if (zero !== null && zero.length < blocks) throw invalid("zero", `${blocks} flags (one per block)`, zero);
    return this.#track(() => raw.writeSpans(pin(buffer), spans.flat(), blockSize, zero));
  }

  /** Makes a range read as zeros: a hole in an image file, BLKZEROOUT on a device. */
  async zeroRange(offset: number, length: number): Promise<ZeroMethod> {
    const raw = this.#open("zeroRange");
    this.#checkWritable(raw);
    this.#checkRange(raw, checkInteger("offset", offset), checkInteger("length", length));
    return this.#track(() => raw.zeroRange(offset, length));
  }

  /** Image files only: set the size in bytes (grows sparse). */
  async setSize(size: number): Promise<void> {
    const raw = this.#open("setSize");
    this.#checkWritable(raw);
    checkInteger("size", size);
    if (raw.info().isBlockDevice) {
      throw new BlockferryError("E_UNSUPPORTED", `setSize: ${this.path} is a block device and cannot be resized`);
    }
    await this.#track(() => raw.setSize(size));
  }

  /** fdatasync: what was written is on stable storage when this resolves. */
  async sync(): Promise<void> {
    const raw = this.#open("sync");
    await this.#track(() => raw.sync());
  }

  /**
   * The extents that hold data within [offset, offset + length), as [start, end)
   * pairs, found with SEEK_DATA/SEEK_HOLE on image files (a block device is one
   * extent). At most `maxExtents` per call: `searchedTo` says where to go on.
   */
  async dataExtents(
    offset: number,
    length: number,
    maxExtents = 4096,
  ): Promise<{ extents: Array<[number, number]>; searchedTo: number }> {
    const raw = this.#open("dataExtents");
    this.#checkRange(raw, checkInteger("offset", offset), checkInteger("length", length));
    checkInteger("maxExtents", maxExtents, 1, 1 << 20);
    const found = await callNative(() => raw.dataExtents(offset, length, maxExtents));
    const extents: Array<[number, number]> = [];
    for (let i = 0; i + 1 < found.extents.length; i += 2) {
      extents.push([found.extents[i] as number, found.extents[i + 1] as number]);
    }
    return { extents, searchedTo: found.searchedTo };
  }

  /** Closes the volume once the transfers already started have ended. */
  async close(): Promise<void> {
    const raw = this.#raw;
    this.#raw = undefined;
    if (raw === undefined) return;
    await Promise.allSettled(this.#inFlight);
    await callNative(() => raw.close());
  }

  /** Tracks a native transfer until it settles; its errors become BlockferryErrors. */
  #track<T>(work: () => Promise<T>): Promise<T> {
    const tracked = callNative(work);
    this.#inFlight.add(tracked);
    const forget = () => this.#inFlight.delete(tracked);
    tracked.then(forget, forget);
    return tracked;
  }

  #open(op: string): RawVolume {
    if (this.#raw === undefined) {
      throw new BlockferryError("E_CLOSED", `${op}: the volume ${this.path} is closed`);
    }
    return this.#raw;
  }

  /** Spans of a readSpans or writeSpans: each in range, and laid out in `buffer` block after block. */
  #checkSpans(
    raw: RawVolume,
    buffer: Uint8Array,
    spans: ReadonlyArray<readonly [number, number]>,
    blockSizeIn: unknown,
  ): number {
    if (spans.length === 0) throw invalid("spans", "at least one range", spans);
    let at = 0;
    let blockSize = 0;
    for (const [offset, length] of spans) {
      blockSize = this.#checkTransfer(raw, buffer.subarray(at), offset, length, blockSizeIn);
      if (length === 0) throw invalid("length", "a positive number of bytes", length);
      at += Math.ceil(length / blockSize) * blockSize;
    }
    return blockSize;
  }

  #checkWritable(raw: RawVolume): void {
    if (!raw.info().writable) {
      throw new BlockferryError("E_READ_ONLY", `${this.path} was opened read-only; open it with { write: true }`);
    }
  }

  #checkRange(raw: RawVolume, offset: number, length: number): void {
    const { size } = raw.info();
    if (offset + length > size) {
      throw new BlockferryError(
        "E_RANGE",
        `range ${offset}..${offset + length} goes past the end of ${this.path} (${size} bytes)`,
        { offset },
      );
    }
  }

  #checkTransfer(raw: RawVolume, buffer: Uint8Array, offset: number, length: number, blockSizeIn: unknown): number {
    const { sectorSize } = raw.info();
    const blockSize = checkPowerOfTwo("blockSize", blockSizeIn, Math.max(MIN_BLOCK_SIZE, sectorSize), MAX_BLOCK_SIZE);
    checkBytes("buffer", buffer);
    checkMultiple("offset", checkInteger("offset", offset), blockSize);
    checkInteger("length", length);
    this.#checkRange(raw, offset, length);
    if (length > buffer.length) throw invalid("buffer", `at least ${length} bytes`, buffer);
    return blockSize;
  }
}
