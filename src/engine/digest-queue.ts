/**
 * Digests of the target's own blocks, as they stream in (source side, in
 * compare mode) or as they stream out (target side, to fold the fingerprint
 * of blocks it keeps). Entries arrive in block order with no gap; consumed
 * ones are dropped, so memory is bounded by how far the target reads ahead.
 */
import { BlockferryError } from "../errors.js";
import { DIGEST_SIZE } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import type { Digests } from "../protocol/messages.js";
import { Fingerprint, foldBatch, foldZeroRun } from "./fingerprint.js";
import { Wakeup } from "./wakeup.js";

export class DigestQueue {
  #entries: Digests[] = [];
  #covered: number;
  readonly #blockCount: number;
  readonly #added = new Wakeup();

  constructor(firstBlock: number, blockCount: number) {
    this.#covered = firstBlock;
    this.#blockCount = blockCount;
  }

  /** Blocks before this one have an entry (or were consumed). */
  get covered(): number {
    return this.#covered;
  }

  add(d: Digests): void {
    if (d.firstBlock !== this.#covered || d.firstBlock + d.count > this.#blockCount) {
      throw protocolError(
        `DIGESTS for blocks ${d.firstBlock}..${d.firstBlock + d.count}, expected block ${this.#covered} of ${this.#blockCount}`,
      );
    }
    this.#entries.push(d);
    this.#covered += d.count;
    this.#added.wake();
  }

  /** Resolves once blocks before `end` have entries; rejects with `failed`. */
  async cover(end: number, failed: Promise<never>): Promise<void> {
    while (this.#covered < end) {
      await this.#added.wait(failed);
    }
  }

  /** The target's digest of block `b`, or "zero" for a block it holds as zeros. */
  at(b: number): Buffer | "zero" {
    for (const e of this.#entries) {
      if (b < e.firstBlock + e.count) {
        if (b < e.firstBlock) break;
        if (e.digests === undefined) return "zero";
        const at = (b - e.firstBlock) * DIGEST_SIZE;
        return e.digests.subarray(at, at + DIGEST_SIZE);
      }
    }
    throw new BlockferryError("E_INTERNAL", `no target digest for block ${b}`);
  }

  /** The digests of blocks [first, first + count) when one entry holds them all (no copy), else undefined. */
  range(first: number, count: number): Buffer | undefined {
    for (const e of this.#entries) {
      if (first < e.firstBlock) return undefined;
      if (first + count <= e.firstBlock + e.count) {
        const at = (first - e.firstBlock) * DIGEST_SIZE;
        return e.digests?.subarray(at, at + count * DIGEST_SIZE);
      }
      if (first < e.firstBlock + e.count) return undefined;
    }
    return undefined;
  }

  /** Fingerprint contribution of blocks [first, first + count) from these digests. */
  async fold(first: number, count: number, blockSize: number, volumeSize: number, seed: bigint): Promise<Buffer> {
    const sum = new Fingerprint();
    const end = first + count;
    for (const e of this.#entries) {
      const from = Math.max(first, e.firstBlock);
      const to = Math.min(end, e.firstBlock + e.count);
      if (from >= to) continue;
      if (e.digests === undefined) sum.add(await foldZeroRun(from, to - from, blockSize, volumeSize, seed));
      else {
        const slice = e.digests.subarray((from - e.firstBlock) * DIGEST_SIZE, (to - e.firstBlock) * DIGEST_SIZE);
        sum.add(await foldBatch(slice, to - from, from, seed));
      }
    }
    return sum.toBuffer();
  }

  /** Copies of the digests of blocks [first, first + count), which must all have entries with digests. */
  digestsOf(first: number, count: number): Buffer[] {
    const out: Buffer[] = [];
    const end = first + count;
    let at = first;
    for (const e of this.#entries) {
      const from = Math.max(at, e.firstBlock);
      const to = Math.min(end, e.firstBlock + e.count);
      if (from >= to) continue;
      if (from !== at || e.digests === undefined) break;
      out.push(Buffer.from(e.digests.subarray((from - e.firstBlock) * DIGEST_SIZE, (to - e.firstBlock) * DIGEST_SIZE)));
      at = to;
    }
    if (at !== end) throw new BlockferryError("E_INTERNAL", `no digest for block ${at}`);
    return out;
  }

  /** Forgets entries wholly before block `b`. */
  dropBefore(b: number): void {
    while (this.#entries.length > 0) {
      const e = this.#entries[0] as Digests;
      if (e.firstBlock + e.count > b) break;
      this.#entries.shift();
    }
  }
}
