/**
 * The prediction model of `blockferry bench` (src/benchmark/model.ts) and its
 * advice (advice.ts), on fixed inputs whose answers are worked out by hand
 * below from the formulas in model.ts's header.
 */
import { describe, expect, it } from "vitest";
import { advise } from "../../src/benchmark/advice.js";
import { BOTH_READS, type ModelInput, predict } from "../../src/benchmark/model.js";

const GiB = 2 ** 30;
const BATCH = 16 * 2 ** 20; // a sample chunk: one batch read first, one written last (the fill)

/** 1 GiB of data, half of it zero blocks, 1% changed; 1 GB/s reads; a 100 MB/s link. */
const base: ModelInput = {
  size: GiB,
  dataBytes: GiB,
  zeroFraction: 0.5,
  blockSize: 65536,
  compress: false,
  change: 0.01,
  readRate: 1e9,
  digestPerCore: 1e10,
  lz4PerCore: 1e9,
  lz4Ratio: 2,
  cores: 2,
  startupSeconds: 0.1,
  network: { goodput: 1e8, rttSeconds: 0.001, handshakeSeconds: 0.05, targetIsBlockDevice: false, targetSize: GiB },
};
// Setup: start + handshake + two round trips; fill: a batch at the read rate and one at the write rate.
const setup = 0.1 + 0.05 + 0.002;
const fill = (2 * BATCH) / 1e9;

describe("the prediction model", () => {
  it("full copy: the slowest stage sets the pace; the wire carries the non-zero bytes and 5 bytes a block", () => {
    const p = predict(base).fullCopy;
    const wire = GiB / 2 + (GiB / 65536) * 5 + (GiB / BATCH) * 17;
    expect(p.wireBytes).toBe(wire);
    expect(p.bottleneck).toBe("network");
    expect(p.seconds).toBeCloseTo(setup + wire / 1e8 + fill, 9);
    const stage = (name: string) => p.stages.find((s) => s.name === name)?.seconds;
    expect(stage("source read")).toBeCloseTo(GiB / 1e9, 9);
    expect(stage("digests")).toBeCloseTo(GiB / 2e10, 9); // two cores' worth: two batches digest at once
    expect(stage("target write")).toBeCloseTo(GiB / 2 / 1e9, 9);
  });

  it("full copy with lz4: the wire bytes shrink by the ratio, and lz4 becomes a stage", () => {
    const p = predict({ ...base, compress: true }).fullCopy;
    expect(p.wireBytes).toBe(GiB / 4 + (GiB / 65536) * 5 + (GiB / BATCH) * 17);
    expect(p.stages.find((s) => s.name === "lz4")?.seconds).toBeCloseTo(GiB / 2 / 2e9, 9);
  });

  it("delta: both volumes read (each on a disk of its own without the probe), plus the changed blocks read again", () => {
    const p = predict(base).delta;
    const changed = 0.01 * GiB;
    const holds = GiB / 2; // no copy measured: what a full copy leaves (zeros as holes)
    expect(p.changedBytes).toBeCloseTo(changed, 6);
    expect(p.targetReadBytes).toBeCloseTo(holds + changed, 6);
    expect(p.digestBytes).toBe((holds / 65536) * 16 + (holds / BATCH) * 17);
    expect(p.bottleneck).toBe(BOTH_READS);
    expect(p.seconds).toBeCloseTo(setup + Math.max(GiB / 1e9, holds / 1e9) + changed / 1e9 + fill, 9);
    const forward = changed + Math.ceil(changed / 65536) * 150 + (changed / 4096) * 16;
    expect(p.wireBytes).toBeCloseTo(forward + p.digestBytes, 6);
  });

  it("delta at the pace the probe measured for both volumes read in step", () => {
    const targetReads = { alone: 5e8, inStepSource: 4e8, inStepTarget: 2e8, dataBytes: GiB / 2 };
    const network = { ...base.network, targetReads } as NonNullable<ModelInput["network"]>;
    const p = predict({ ...base, network }).delta;
    const changed = 0.01 * GiB;
    // The side slower through its share sets the pace; changed blocks are read again at the target's rate.
    const reads = Math.max(GiB / 4e8, GiB / 2 / 2e8) + changed / 5e8;
    expect(p.stages.find((s) => s.name === BOTH_READS)?.seconds).toBeCloseTo(reads, 9);
    expect(p.seconds).toBeCloseTo(setup + reads + BATCH / 1e9 + BATCH / 5e8, 9);
  });

  it("delta with the digest cache: the target reads the changed blocks; they travel as in the delta, offers and all", () => {
    const p = predict(base).deltaCached;
    const changed = 0.01 * GiB;
    expect(p.bottleneck).toBe("source read");
    expect(p.wireBytes).toBeCloseTo(changed + Math.ceil(changed / 65536) * 150 + (changed / 4096) * 16, 6);
    expect(p.stages.find((s) => s.name.startsWith("target read"))?.bytes).toBe(2 * changed);
    expect(p.seconds).toBeCloseTo(setup + GiB / 1e9 + fill, 9);
  });

  it("change-tracked delta: the source reads a pool chunk per changed block, not the volume; the rest as cached", () => {
    const p = predict(base).deltaTracked;
    const changed = 0.01 * GiB;
    const chunks = Math.ceil(changed / 65536) * 65536;
    expect(p.sourceReadBytes).toBe(chunks);
    expect(p.wireBytes).toBeCloseTo(predict(base).deltaCached.wireBytes, 6);
    expect(p.bottleneck).toBe("network (changed blocks)");
    expect(p.seconds).toBeCloseTo(setup + p.wireBytes / 1e8 + fill, 9);
    // 4 KiB blocks: each scattered changed block still costs a 64 KiB chunk, up to the whole volume.
    const small = predict({ ...base, blockSize: 4096 }).deltaTracked;
    expect(small.sourceReadBytes).toBe(Math.ceil(changed / 4096) * 65536);
    expect(predict({ ...base, blockSize: 4096, change: 0.1 }).deltaTracked.sourceReadBytes).toBe(GiB);
  });
});

describe("the advice", () => {
  it("names --compress lz4 for a network-bound full copy of data that compresses, with both times", () => {
    const p = predict(base);
    const lz4 = predict({ ...base, compress: true }).fullCopy.seconds;
    const [full, delta] = advise(base, p);
    expect(full).toMatch(/^full copy: network-bound at 95\.4 MiB\/s: --compress lz4 would cut the bytes on the wire/);
    expect(full).toContain(`${lz4.toFixed(1)} s instead of ${p.fullCopy.seconds.toFixed(1)} s`);
    // The cached delta saves under a tenth here: not worth a line of its own.
    expect(delta).toBe(`delta: bound by ${BOTH_READS}`);
  });

  it("says lz4 would not help data that does not compress", () => {
    const m = { ...base, zeroFraction: 0, lz4Ratio: 1 };
    expect(advise(m, predict(m))[0]).toMatch(/does not compress \(lz4 1\.00:1\): --compress lz4 would not help/);
  });

  it("points at the digest cache when reading both volumes is slow, and at the block size when digests fill the link", () => {
    const slowTarget = {
      ...base,
      network: { ...base.network, targetReads: { alone: 1e8, inStepSource: 1e8, inStepTarget: 1e8, dataBytes: GiB } },
    } as ModelInput;
    expect(advise(slowTarget, predict(slowTarget))[1]).toMatch(
      /^delta: bound by reading both volumes; with the digest cache/,
    );
    const thinLink = { ...base, change: 0, network: { ...base.network, goodput: 1e5 } } as ModelInput;
    const p = predict(thinLink);
    expect(p.delta.bottleneck).toBe("network (digests back)");
    expect(advise(thinLink, p)[1]).toMatch(/fill the link: a larger --block-size sends fewer/);
  });

  it("names change tracking when it saves time, and no longer says the cached delta sends blocks whole", () => {
    const slowDisk = { ...base, readRate: 1e8 };
    const p = predict(slowDisk);
    const advice = advise(slowDisk, p);
    expect(advice).toContain(
      `delta: on a thin LV, --snapshot lvm keeps a base snapshot and thin_delta names the changed chunks: the source ` +
        `reads 10.3 MiB instead of the whole volume, ${p.deltaTracked.seconds.toFixed(1)} s`,
    );
    // The cached delta offers pieces as the delta does (two-level): no smaller block size to advise.
    const cachedOnThinLink = { ...base, network: { ...base.network, goodput: 1e6 } } as ModelInput;
    const q = predict(cachedOnThinLink);
    expect(q.deltaCached.bottleneck).toBe("network (changed blocks)");
    expect(advise(cachedOnThinLink, q).join("\n")).not.toMatch(/travel whole|--block-size/);
  });

  it("without a link measured, says how fast a link this host can feed", () => {
    const m = { ...base, network: undefined };
    const [full] = advise(m, predict(m));
    expect(full).toMatch(/^full copy: this host alone \(source read at .*\) would take .*measure the link with --to$/);
  });
});
