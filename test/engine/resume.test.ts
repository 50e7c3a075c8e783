import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TransferStats } from "../../src/engine/stats.js";
import { copyInProcess, fulfilled, MemoryStateStore, writeMixedImage } from "../helpers/engine.js";
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

  /** A copy cut at 40 MiB of 64: the target holds a checkpointed prefix and a recorded state. */
  async function interrupted(name: string, seed: number) {
    const source = join(scratch.dir, `${name}-src.img`);
    const target = join(scratch.dir, `${name}-dst.img`);
    const data = writeMixedImage(source, 64 * 1024 * 1024, seed);
    const state = new MemoryStateStore();
    const target_ = { checkpointBytes: CHECKPOINT };
    const first = await copyInProcess({ source, target, state, cutAfterBytes: 40 * 1024 * 1024, target_ });
    expect(first.source.status).toBe("rejected");
    const done = state.last?.blocksDone ?? 0;
    expect(done).toBeGreaterThan(0);
    return { source, target, data, state, target_, prefixBytes: done * 65536 };
  }

  /** Writes behind blockferry's back inside the copied part, as a mount of the half copy does. */
  function scribble(path: string, at: number): void {
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, at);
    closeSync(fd);
  }

  it("trusts the copied part without reading it while the target is as the interruption left it", async () => {
    const c = await interrupted("still", 21);
    expect(c.state.last?.pausedStamp).toBeDefined();
    const second = await copyInProcess(c);
    const target = fulfilled(second.target);
    expect(target.resumedFromBlock * 65536).toBe(c.prefixBytes);
    expect(target.stats.readBytes).toBe(0);
    expect(readFileSync(c.target).equals(c.data)).toBe(true);
  });

  it("compares from the start when the copied part was written since the interruption", async () => {
    const c = await interrupted("scribbled", 22);
    scribble(c.target, 4096 * 3);
    const second = await copyInProcess(c);
    const target = fulfilled(second.target);
    expect(target.resumedFromBlock).toBe(0);
    expect(target.mode).toBe("compare");
    expect(readFileSync(c.target).equals(c.data)).toBe(true);
    expect(c.state.last).toMatchObject({ complete: true, verified: true });
  });

  it("reads the copied part again when the receiver died without a stamp, and resumes only if it is intact", async () => {
    for (const changed of [false, true]) {
      const c = await interrupted(`killed-${changed}`, 23);
      // As after kill -9 of the receiver: the last checkpoint's state, no stamp.
      const last = c.state.last as NonNullable<typeof c.state.last>;
      c.state.saved.push({ ...last, pausedStamp: undefined });
      if (changed) scribble(c.target, c.prefixBytes - 8192);
      const second = await copyInProcess(c);
      const target = fulfilled(second.target);
      expect(target.resumedFromBlock * 65536).toBe(changed ? 0 : c.prefixBytes);
      // The copied part was read to check it (and, when changed, the whole copy to compare it).
      expect(target.stats.readBytes).toBeGreaterThanOrEqual(c.prefixBytes);
      expect(readFileSync(c.target).equals(c.data)).toBe(true);
    }
  });
});
