import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TransferStats } from "../../src/engine/stats.js";
import { copyInProcess, MemoryStateStore, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededInts, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const CHECKPOINT = 16 * 1024 * 1024;

describe("an interrupted copy resumes", () => {
  it("re-sends at most two checkpoint windows after the link is cut at a random point", async () => {
    const seed = testSeed("cut and resume");
    const pick = seededInts(seed);
    const source = join(scratch.dir, "src.img");
    const target = join(scratch.dir, "dst.img");
    const data = writeMixedImage(source, 160 * 1024 * 1024 + 4096, seed);
    const state = new MemoryStateStore();
    const target_ = { checkpointBytes: CHECKPOINT };
    for (let round = 0; round < 3; round++) {
      const cutAfterBytes = CHECKPOINT + pick(100 * 1024 * 1024);
      const firstStats = new TransferStats();
      const first = await copyInProcess({
        source,
        target,
        state,
        cutAfterBytes,
        target_,
        source_: { full: true, stats: firstStats },
      });
      expect(first.source.status).toBe("rejected");
      expect(state.last?.complete).toBe(false);
      const second = await copyInProcess({ source, target, state, target_ });
      if (second.source.status === "rejected") throw second.source.reason;
      const resumedFrom = second.source.value.stats.resumedFromBytes;
      expect(resumedFrom).toBeGreaterThan(0);
      // How far into the volume the first run had sent, against where the second resumed.
      const firstReached = firstStats.doneBytes;
      console.log(`cut after ${first.cutAt} wire bytes at volume byte ${firstReached}; resumed at ${resumedFrom}`);
      expect(firstReached).toBeGreaterThan(0);
      expect(firstReached - resumedFrom).toBeLessThanOrEqual(2 * CHECKPOINT);
      expect(readFileSync(target).equals(data)).toBe(true);
      expect(state.last).toMatchObject({ complete: true, verified: true });
    }
  });

  it("starts over when the source changed since the interrupted copy", async () => {
    const source = join(scratch.dir, "chg-src.img");
    const target = join(scratch.dir, "chg-dst.img");
    writeMixedImage(source, 64 * 1024 * 1024, 11);
    const state = new MemoryStateStore();
    const target_ = { checkpointBytes: CHECKPOINT };
    const first = await copyInProcess({ source, target, state, cutAfterBytes: 40 * 1024 * 1024, target_ });
    expect(first.source.status).toBe("rejected");
    expect(state.last?.blocksDone).toBeGreaterThan(0);
    const changed = writeMixedImage(source, 64 * 1024 * 1024, 12); // same size, other bytes
    const second = await copyInProcess({ source, target, state, target_ });
    if (second.source.status === "rejected") throw second.source.reason;
    expect(second.source.value.resumedFromBlock).toBe(0);
    expect(readFileSync(target).equals(changed)).toBe(true);
  });
});
