/**
 * The whole-volume fingerprint: a 128-bit sum of per-block contributions
 * (native/core/digest.h). Batches fold independently, on worker threads, and
 * their sums are added here; a checkpoint stores 16 bytes.
 */
import { DIGEST_SIZE, digestBlocks, foldDigests } from "../native/index.js";

const MASK = (1n << 128n) - 1n;
const ZERO16 = Buffer.alloc(DIGEST_SIZE);

export class Fingerprint {
  #sum: bigint;

  constructor(initial?: Uint8Array) {
    this.#sum = initial === undefined ? 0n : BigInt(`0x${Buffer.from(initial).toString("hex")}`);
  }

  add(part: Uint8Array): void {
    this.#sum = (this.#sum + BigInt(`0x${Buffer.from(part).toString("hex")}`)) & MASK;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.#sum.toString(16).padStart(32, "0"), "hex");
  }

  get hex(): string {
    return this.#sum.toString(16).padStart(32, "0");
  }

  equals(other: Uint8Array): boolean {
    return this.toBuffer().equals(Buffer.from(other));
  }
}

/** Sum of the contributions of `count` blocks from `firstBlock`, given their digests. */
export function foldBatch(digests: Buffer, count: number, firstBlock: number, seed: bigint): Promise<Buffer> {
  return foldDigests(ZERO16, digests, count, firstBlock, seed);
}

/**
 * Sum of the contributions of the all-zero blocks [firstBlock, firstBlock + count)
 * of a volume of `volumeSize` bytes (the last block may be short).
 */
export async function foldZeroRun(
  firstBlock: number,
  count: number,
  blockSize: number,
  volumeSize: number,
  seed: bigint,
): Promise<Buffer> {
  const lastBlock = Math.ceil(volumeSize / blockSize) - 1;
  const tail = volumeSize - lastBlock * blockSize;
  const includesShortTail = firstBlock + count - 1 === lastBlock && tail < blockSize;
  const full = includesShortTail ? count - 1 : count;
  const sum = new Fingerprint();
  if (full > 0) {
    const { digests } = await digestBlocks(Buffer.alloc(blockSize), blockSize, seed);
    sum.add(await foldDigests(ZERO16, digests, full, firstBlock, seed, true));
  }
  if (includesShortTail) {
    const { digests } = await digestBlocks(Buffer.alloc(tail), blockSize, seed);
    sum.add(await foldDigests(ZERO16, digests, 1, lastBlock, seed));
  }
  return sum.toBuffer();
}
