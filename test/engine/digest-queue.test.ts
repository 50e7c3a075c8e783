/** The source's queue of the target's digests: a run's digests in one piece, only where one entry holds them. */
import { describe, expect, it } from "vitest";
import { DigestQueue } from "../../src/engine/digest-queue.js";

const digests = (first: number, count: number) =>
  Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.alloc(16, first + i)));

describe("DigestQueue.range", () => {
  const queue = new DigestQueue(10, 1000);
  queue.add({ firstBlock: 10, count: 20, digests: digests(10, 20) });
  queue.add({ firstBlock: 30, count: 5, digests: undefined }); // all zero: no digests
  queue.add({ firstBlock: 35, count: 10, digests: digests(35, 10) });

  it("gives the digests of a run inside one entry, as block-by-block lookups would", () => {
    expect(queue.range(12, 5)?.equals(digests(12, 5))).toBe(true);
    expect(queue.range(35, 10)?.equals(digests(35, 10))).toBe(true);
    for (let b = 12; b < 17; b++) expect(queue.at(b)).toEqual(digests(b, 1));
  });

  it("gives nothing for a run across entries, in an all-zero entry, before the queue or past it", () => {
    expect(queue.range(28, 4)).toBeUndefined();
    expect(queue.range(31, 2)).toBeUndefined();
    expect(queue.range(5, 3)).toBeUndefined();
    expect(queue.range(44, 2)).toBeUndefined();
    expect(queue.range(50, 1)).toBeUndefined();
  });
});
