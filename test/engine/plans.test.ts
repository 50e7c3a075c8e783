/**
 * The two pure planners of the engine, on fixed inputs: how the target takes
 * a sync (target-plan.ts), and what the source sends for a batch
 * (source-plan.ts). No volume, no channel.
 */
import { describe, expect, it } from "vitest";
import { FINE_MAX_RUN_BLOCKS, piecesOf, planBatch } from "../../src/engine/source-plan.js";
import type { TargetState } from "../../src/engine/state.js";
import { planTarget, type TargetFacts } from "../../src/engine/target-plan.js";
import type { SourceBatch } from "../../src/engine/volume-reader.js";
import type { Hello } from "../../src/protocol/messages.js";
import { seededInts, testSeed } from "../helpers/random.js";

const hello = (over: Partial<Hello> = {}, flags: Partial<Hello["flags"]> = {}): Hello => ({
  version: 3,
  targetName: "t",
  sourceSize: 1 << 20,
  blockSize: 65536,
  flags: { compress: false, full: false, verify: false, dryRun: false, ...flags },
  sourceId: "host:/dev/src",
  cacheGeneration: 0,
  cacheFingerprint: Buffer.alloc(16),
  fineSize: 4096,
  dirs: [],
  ...over,
});

const state = (over: Partial<TargetState> = {}): TargetState => ({
  version: 1,
  complete: false,
  verified: false,
  mode: "copy",
  sourceId: "host:/dev/src",
  targetId: "file:1:2",
  sourceSize: 1 << 20,
  blockSize: 65536,
  seed: "42",
  blocksDone: 8,
  fingerprint: "ab".repeat(16),
  generation: 3,
  stamp: "stamp-1",
  startedAt: "2026-12-06T00:00:00.000Z",
  updatedAt: "2026-12-06T00:00:00.000Z",
  ...over,
});

const facts = (over: Partial<TargetFacts> = {}): TargetFacts => ({
  saved: undefined,
  identity: "file:1:2",
  volumeSize: 1 << 20,
  stamp: "stamp-1",
  holdsData: false,
  prefixIntact: true,
  savedIntact: false,
  freshSeed: 7n,
  ...over,
});

describe("planTarget: one mode for the whole sync", () => {
  it("copies from 0 into a target that holds nothing, with a fresh seed", () => {
    const plan = planTarget(hello(), facts());
    expect(plan.mode).toEqual({ kind: "copy", fromBlock: 0, resumeSum: Buffer.alloc(16) });
    expect(plan).toMatchObject({ seed: 7n, generation: 1, dryRun: false, cacheRefusal: "" });
  });

  it("compares with a target that holds data, and copies it all with --full", () => {
    expect(planTarget(hello(), facts({ holdsData: true })).mode).toEqual({ kind: "compare" });
    expect(planTarget(hello({}, { full: true }), facts({ holdsData: true })).mode.kind).toBe("copy");
  });

  it("resumes an interrupted copy of this source only when its copied part is intact", () => {
    const saved = state();
    const resumed = planTarget(hello(), facts({ saved, holdsData: true }));
    expect(resumed.mode).toEqual({ kind: "copy", fromBlock: 8, resumeSum: Buffer.from(saved.fingerprint, "hex") });
    expect(resumed.seed).toBe(42n);
    expect(planTarget(hello(), facts({ saved, holdsData: true, prefixIntact: false })).mode.kind).toBe("compare");
    for (const other of [
      facts({ saved: state({ sourceId: "host:/dev/other" }), holdsData: true }),
      facts({ saved: state({ targetId: "file:9:9" }), holdsData: true }),
      facts({ saved: state({ mode: "compare" }), holdsData: true }),
      facts({ saved, holdsData: true, volumeSize: 1 << 19 }),
    ]) {
      expect(planTarget(hello(), other).mode.kind).toBe("compare");
    }
    expect(planTarget(hello({}, { full: true }), facts({ saved })).mode).toMatchObject({ kind: "copy", fromBlock: 0 });
  });

  it("takes up the source's digest cache only for its own completed, unwritten generation", () => {
    const saved = state({ complete: true, verified: true });
    const offer = { cacheGeneration: 3, cacheFingerprint: Buffer.from(saved.fingerprint, "hex") };
    const cached = planTarget(hello(offer), facts({ saved, holdsData: true }));
    expect(cached).toMatchObject({ mode: { kind: "cached" }, seed: 42n, generation: 4, cacheRefusal: "" });
    const refusals: Array<[Partial<TargetFacts>, Partial<Hello>, RegExp]> = [
      [{ stamp: "stamp-2" }, {}, /written outside blockferry/],
      [{ stamp: undefined }, {}, /cannot tell whether it was written/],
      [{}, { cacheGeneration: 2 }, /holds generation 3 of its copy, the cache generation 2/],
      [{}, { cacheFingerprint: Buffer.alloc(16, 1) }, /cache does not match/],
      [{ saved: state({ complete: false, mode: "compare" }) }, {}, /did not complete/],
      [{ identity: "file:9:9" }, {}, /no record of that sync/],
    ];
    for (const [f, h, why] of refusals) {
      const plan = planTarget(hello({ ...offer, ...h }), facts({ saved, holdsData: true, ...f }));
      expect(plan.mode.kind).toBe("compare");
      expect(plan.cacheRefusal).toMatch(why);
    }
  });

  it("a dry run plans as the sync would, and says so", () => {
    const plan = planTarget(hello({}, { dryRun: true }), facts({ holdsData: true }));
    expect(plan).toMatchObject({ mode: { kind: "compare" }, dryRun: true });
  });
});

describe("planBatch: what the source sends for a batch", () => {
  const zeros = { full: Buffer.alloc(16, 0xee), tail: Buffer.alloc(16, 0xef) };
  const digest = (b: number) => Buffer.alloc(16, b + 1);
  /** A data batch of `count` blocks from `first`, block i all zero where `zeroAt` says. */
  const data = (first: number, count: number, zeroAt: number[] = []): SourceBatch => ({
    kind: "data",
    firstBlock: first,
    count,
    buffer: Buffer.alloc(0),
    length: 0,
    digests: Buffer.concat(
      Array.from({ length: count }, (_, i) => (zeroAt.includes(i) ? zeros.full : digest(first + i))),
    ),
    zero: Buffer.from(Array.from({ length: count }, (_, i) => (zeroAt.includes(i) ? 1 : 0))),
    compressed: undefined,
    release: () => {},
  });

  it("without the target's digests, sends everything: zero blocks included as blocks, holes as a zero run", () => {
    const steps = planBatch({ batch: data(0, 4, [1]), theirs: undefined, zeros, lastBlock: 99, twoLevel: false });
    expect(steps).toEqual([{ kind: "blocks", first: 0, count: 4 }]);
    const hole = planBatch({
      batch: { kind: "hole", firstBlock: 4, count: 10 },
      theirs: undefined,
      zeros,
      lastBlock: 99,
      twoLevel: false,
    });
    expect(hole).toEqual([{ kind: "zero", first: 4, count: 10 }]);
  });

  it("against the target's digests: same runs, zero runs, short changed runs offered, long ones sent whole", () => {
    const changed = new Set([2, 3, 10, 11, 12, ...Array.from({ length: 20 }, (_, i) => 30 + i)]);
    const theirs = (b: number) => (b === 6 ? "zero" : changed.has(b) ? Buffer.alloc(16, 0x99) : digest(b));
    // Block 7 of the batch is all zero and the target holds other data there; block 6 is zero on both sides.
    const batch = data(0, 64, [6, 7]);
    const steps = planBatch({ batch, theirs, zeros, lastBlock: 99, twoLevel: true });
    expect(steps).toEqual([
      { kind: "same", first: 0, count: 2 },
      { kind: "offer", first: 2, count: 2 },
      { kind: "same", first: 4, count: 3 },
      { kind: "zero", first: 7, count: 1 },
      { kind: "same", first: 8, count: 2 },
      { kind: "offer", first: 10, count: 3 },
      { kind: "same", first: 13, count: 17 },
      { kind: "blocks", first: 30, count: 20 },
      { kind: "same", first: 50, count: 14 },
    ]);
    expect(20).toBeGreaterThan(FINE_MAX_RUN_BLOCKS);
    const oneLevel = planBatch({ batch, theirs, zeros, lastBlock: 99, twoLevel: false });
    expect(oneLevel.filter((s) => s.kind === "offer")).toEqual([]);
    expect(oneLevel[1]).toEqual({ kind: "blocks", first: 2, count: 2 });
  });

  it("compares 64 blocks at a time where the target's digests are at hand, with the same steps as block by block", () => {
    const seed = testSeed("plan pieces");
    const pick = seededInts(seed);
    for (let trial = 0; trial < 200; trial++) {
      const count = 1 + pick(300);
      const zeroAt = Array.from({ length: pick(4) }, () => pick(count));
      const batch = data(1000, count, zeroAt) as SourceBatch & { kind: "data" };
      const changed = new Set(Array.from({ length: pick(12) }, () => 1000 + pick(count)));
      const targetZero = new Set(Array.from({ length: pick(3) }, () => 1000 + pick(count)));
      const theirDigest = (b: number) =>
        changed.has(b) ? Buffer.alloc(16, 0x99) : batch.digests.subarray((b - 1000) * 16, (b - 999) * 16);
      let calls = 0;
      const theirs = (b: number) => {
        calls++;
        return targetZero.has(b) ? ("zero" as const) : theirDigest(b);
      };
      // As the queue gives them: in one piece unless a block it holds as "zero" is among them.
      const theirRange = (first: number, n: number) =>
        Array.from({ length: n }, (_, i) => first + i).some((b) => targetZero.has(b))
          ? undefined
          : Buffer.concat(Array.from({ length: n }, (_, i) => theirDigest(first + i)));
      const plain = planBatch({ batch, theirs, zeros, lastBlock: 99999, twoLevel: false });
      calls = 0;
      const fast = planBatch({ batch, theirs, theirRange, zeros, lastBlock: 99999, twoLevel: false });
      expect(fast, `trial ${trial}, seed ${seed}`).toEqual(plain);
      if (changed.size === 0 && targetZero.size === 0) expect(calls).toBe(0);
    }
  });

  it("a hole is the same where the target holds zeros (the short last block by its own digest)", () => {
    const theirs = (b: number) => (b === 98 ? zeros.full : b === 99 ? zeros.tail : digest(b));
    const steps = planBatch({
      batch: { kind: "hole", firstBlock: 96, count: 4 },
      theirs,
      zeros,
      lastBlock: 99,
      twoLevel: true,
    });
    expect(steps).toEqual([
      { kind: "zero", first: 96, count: 2 },
      { kind: "same", first: 98, count: 2 },
    ]);
  });

  it("cuts a long hole into pieces of a batch in compare mode", () => {
    const pieces = [...piecesOf({ kind: "hole", firstBlock: 10, count: 600 }, 256)];
    expect(pieces).toEqual([
      { kind: "hole", firstBlock: 10, count: 256 },
      { kind: "hole", firstBlock: 266, count: 256 },
      { kind: "hole", firstBlock: 522, count: 88 },
    ]);
  });
});
