/**
 * Digest and lz4 throughput per core, through the same native calls the
 * engine makes (one call per batch, on one worker thread each), and lz4's
 * compression ratio, on slices of the volume's sample.
 */
import { randomBytes } from "node:crypto";
import { compressBlocks, digestBlocks } from "../native/index.js";

/** Of each chunk read, this much (its non-zero blocks) is kept for the codecs... */
const SLICE_BYTES = 4 * 1024 * 1024;
/** ...up to this much in all. */
const MAX_SLICES_BYTES = 64 * 1024 * 1024;
/** Codecs are timed on at least this much, repeated if need be: less would sit in the CPU's cache and flatter them. */
const TIMED_BYTES = 64 * 1024 * 1024;
/** Timings shorter than this are repeated: one call on 64 MiB may take milliseconds. */
const MIN_TIMING_SECONDS = 0.2;

/** Collects the non-zero blocks of the start of each chunk of a sample, spread as the sample is. */
export class SampleSlices {
  readonly #blockSize: number;
  readonly #parts: Buffer[] = [];
  #bytes = 0;

  constructor(blockSize: number) {
    this.#blockSize = blockSize;
  }

  add(data: Buffer, zero: Buffer): void {
    const bs = this.#blockSize;
    for (let i = 0; i * bs < Math.min(data.length, SLICE_BYTES); i++) {
      if (zero[i] === 1) continue;
      const block = data.subarray(i * bs, Math.min((i + 1) * bs, data.length));
      if (block.length < bs || this.#bytes + bs > MAX_SLICES_BYTES) return;
      this.#parts.push(Buffer.from(block));
      this.#bytes += bs;
    }
  }

  /** Whole blocks of data, or undefined when the sample held none (an all-zero volume). */
  data(): Buffer | undefined {
    return this.#bytes === 0 ? undefined : Buffer.concat(this.#parts, this.#bytes);
  }
}

export interface CodecRates {
  /** XXH3-128 over blocks, bytes per second on one core. */
  digestPerCore: number;
  /** lz4 as the source compresses (blocks that do not shrink by 1/16 stay raw), bytes per second on one core. */
  lz4PerCore: number;
  /** Bytes in per byte out; 1 when nothing shrinks. */
  lz4Ratio: number;
  /** Bytes lz4 was measured on: 0 means the sample held no data (random bytes were used for the rates). */
  sampleBytes: number;
}

export async function measureCodecs(
  sample: Buffer | undefined,
  blockSize: number,
  deadline: number,
): Promise<CodecRates> {
  const data = repeated(sample ?? randomBytes(16 * 1024 * 1024), TIMED_BYTES);
  const seed = randomBytes(8).readBigUInt64BE();
  const digestPerCore = await timed(data.length, deadline, () => digestBlocks(data, blockSize, seed));
  let out = 0;
  const lz4PerCore = await timed(data.length, deadline, async () => {
    const { sizes } = await compressBlocks(data, blockSize);
    out = 0;
    for (let i = 0; i < sizes.length; i++) out += sizes[i] || Math.min(blockSize, data.length - i * blockSize);
  });
  return {
    digestPerCore,
    lz4PerCore,
    lz4Ratio: sample === undefined || out === 0 ? 1 : data.length / out,
    sampleBytes: sample?.length ?? 0,
  };
}

/** `data` over and over, to at least `bytes` (whole copies: lz4 works per block, so its ratio stays). */
function repeated(data: Buffer, bytes: number): Buffer {
  return data.length >= bytes ? data : Buffer.concat(Array(Math.ceil(bytes / data.length)).fill(data));
}

/** Bytes per second of `call` on `bytes`: the best of repeated calls, at least MIN_TIMING_SECONDS in all (or until `deadline`). */
async function timed(bytes: number, deadline: number, call: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  let total = 0;
  do {
    const started = performance.now();
    await call();
    const seconds = (performance.now() - started) / 1000;
    best = Math.min(best, seconds);
    total += seconds;
  } while (total < MIN_TIMING_SECONDS && performance.now() < deadline);
  return bytes / Math.max(best, 1e-6);
}
