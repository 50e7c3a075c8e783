import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TransferStats } from "../../src/engine/stats.js";
import { copyInProcess, fulfilled, MemoryStateStore, scatter, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const BS = 65536;

describe("delta sync: a target holding an earlier copy gets only what changed", () => {
  it("sends only the changed blocks plus the digests, and the target ends identical", async () => {
    const seed = testSeed("delta");
    const source = join(scratch.dir, "src.img");
    const target = join(scratch.dir, "dst.img");
    writeMixedImage(source, 64 * 1024 * 1024 + 5000, seed);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    const changed = scatter(source, 40, seed + 1);

    const stats = new TransferStats();
    const r = await copyInProcess({ source, target, state, source_: { stats } });
    fulfilled(r.source);
    fulfilled(r.target);
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(state.last).toMatchObject({ complete: true, verified: true, mode: "compare" });
    expect(stats.changedBlocks).toBe(changed.size);
    const crossed = r.bytes.aToB + r.bytes.bToA;
    console.log(`changed ${changed.size} blocks; crossed ${crossed} bytes, digests ${stats.digestBytes}`);
    expect(crossed).toBeLessThanOrEqual(1.1 * changed.size * BS + stats.digestBytes);
  });

  it("an unchanged source sends nothing but run messages", async () => {
    const source = join(scratch.dir, "same-src.img");
    const target = join(scratch.dir, "same-dst.img");
    writeMixedImage(source, 32 * 1024 * 1024, 51);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    const stats = new TransferStats();
    const r = await copyInProcess({ source, target, state, source_: { stats } });
    fulfilled(r.target);
    expect(stats.changedBlocks).toBe(0);
    expect(r.bytes.aToB).toBeLessThan(4096);
  });

  it("repairs a target changed behind its back, including blocks that became zero", async () => {
    const seed = testSeed("repair");
    const source = join(scratch.dir, "rep-src.img");
    const target = join(scratch.dir, "rep-dst.img");
    writeMixedImage(source, 48 * 1024 * 1024, seed);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    scatter(target, 25, seed + 2); // someone wrote to the copy
    const fd = openSync(source, "r+");
    writeSync(fd, Buffer.alloc(4 * BS), 0, 4 * BS, 8 * BS); // and the source zeroed four blocks
    closeSync(fd);
    // Written since its last sync: refused, untouched, until forced (the standby may hold new data).
    const changed = readFileSync(target);
    const refused = await copyInProcess({ source, target, state });
    expect(refused.target.status === "rejected" && refused.target.reason).toMatchObject({ code: "E_DIVERGED" });
    expect(readFileSync(target).equals(changed)).toBe(true);
    const r = await copyInProcess({ source, target, state, source_: { force: true } });
    fulfilled(r.source);
    fulfilled(r.target);
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
  });

  it("--full copies everything even onto a target holding a copy", async () => {
    const source = join(scratch.dir, "full-src.img");
    const target = join(scratch.dir, "full-dst.img");
    const data = writeMixedImage(source, 16 * 1024 * 1024, 52);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    const r = await copyInProcess({ source, target, state, source_: { full: true } });
    fulfilled(r.target);
    expect(state.last?.mode).toBe("copy");
    expect(r.bytes.aToB).toBeGreaterThan(data.length * 0.8);
  });

  it("an interrupted delta, then a new sync, gives an identical target", async () => {
    const seed = testSeed("interrupted delta");
    const source = join(scratch.dir, "int-src.img");
    const target = join(scratch.dir, "int-dst.img");
    writeMixedImage(source, 96 * 1024 * 1024, seed);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    writeMixedImage(source, 96 * 1024 * 1024, seed + 7); // everything changed
    const cut = await copyInProcess({
      source,
      target,
      state,
      cutAfterBytes: 40 * 1024 * 1024,
      target_: { checkpointBytes: 16 << 20 },
    });
    expect(cut.source.status).toBe("rejected");
    expect(state.last).toMatchObject({ complete: false, mode: "compare" });
    const again = await copyInProcess({ source, target, state });
    fulfilled(again.source);
    fulfilled(again.target);
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(state.last?.complete).toBe(true);
  });

  it("works in reverse: the secondary back to a repaired primary is a delta too", async () => {
    const seed = testSeed("failback");
    const primary = join(scratch.dir, "primary.img");
    const secondary = join(scratch.dir, "secondary.img");
    writeMixedImage(primary, 48 * 1024 * 1024, seed);
    fulfilled((await copyInProcess({ source: primary, target: secondary })).target);
    const changed = scatter(secondary, 30, seed + 3); // the secondary served while the primary was down
    const stats = new TransferStats();
    const back = await copyInProcess({ source: secondary, target: primary, source_: { stats } });
    fulfilled(back.source);
    fulfilled(back.target);
    expect(readFileSync(primary).equals(readFileSync(secondary))).toBe(true);
    expect(stats.changedBlocks).toBe(changed.size);
    expect(back.bytes.aToB).toBeLessThan(1.1 * changed.size * BS + 64 * 1024);
  });

  it("--dry-run counts what would be sent and changes nothing", async () => {
    const seed = testSeed("dry run");
    const source = join(scratch.dir, "dry-src.img");
    const target = join(scratch.dir, "dry-dst.img");
    writeMixedImage(source, 40 * 1024 * 1024, seed);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    const changed = scatter(source, 20, seed + 4);
    const before = readFileSync(target);
    const saves = state.saved.length;
    const stats = new TransferStats();
    const r = await copyInProcess({ source, target, state, source_: { stats, dryRun: true } });
    fulfilled(r.source);
    fulfilled(r.target);
    expect(stats.changedBlocks).toBe(changed.size);
    expect(stats.rawBytes + stats.zeroBytes).toBe(changed.size * BS);
    expect(readFileSync(target).equals(before)).toBe(true);
    expect(state.saved.length).toBe(saves);
    expect(r.bytes.aToB).toBeLessThan(8192);
  });

  describe("long unchanged stretches do not stall the comparison", () => {
    // The target reads its digests only so far ahead of the source's progress;
    // shrunk here so that 128 MiB is a "long" stretch.
    const target_ = { digestsAheadBytes: 32 * 1024 * 1024 };

    it("an unchanged volume four times the read-ahead", async () => {
      const source = join(scratch.dir, "long-src.img");
      const target = join(scratch.dir, "long-dst.img");
      writeMixedImage(source, 128 * 1024 * 1024, 61);
      fulfilled((await copyInProcess({ source, target })).target);
      const stats = new TransferStats();
      const r = await copyInProcess({ source, target, target_, source_: { stats } });
      fulfilled(r.target);
      expect(stats.changedBlocks).toBe(0);
    });

    it("a sparse volume whose hole is four times the read-ahead, and a dry run of it", async () => {
      const source = join(scratch.dir, "hole-src.img");
      const target = join(scratch.dir, "hole-dst.img");
      const fd = openSync(source, "w");
      writeSync(fd, seededBytes(1 << 20, 62), 0, 1 << 20, 0);
      closeSync(fd);
      const { truncateSync } = await import("node:fs");
      truncateSync(source, 160 * 1024 * 1024);
      fulfilled((await copyInProcess({ source, target })).target);
      fulfilled((await copyInProcess({ source, target, target_ })).target);
      const stats = new TransferStats();
      const dry = await copyInProcess({ source, target, target_, source_: { stats, dryRun: true } });
      fulfilled(dry.target);
      expect(stats.changedBlocks).toBe(0);
      expect(stats.sameBytes).toBe(160 * 1024 * 1024);
    });

    it("a dry run onto a smaller image counts the missing tail as to be sent", async () => {
      const source = join(scratch.dir, "small-src.img");
      const target = join(scratch.dir, "small-dst.img");
      writeMixedImage(source, 64 * 1024 * 1024, 63);
      fulfilled((await copyInProcess({ source, target })).target);
      const { truncateSync } = await import("node:fs");
      truncateSync(target, 32 * 1024 * 1024);
      const stats = new TransferStats();
      const dry = await copyInProcess({ source, target, target_, source_: { stats, dryRun: true } });
      fulfilled(dry.target);
      expect(stats.sameBytes).toBe(32 * 1024 * 1024);
      expect(stats.changedBlocks).toBeGreaterThan(0);
      expect(statSync(target).size).toBe(32 * 1024 * 1024); // a dry run does not grow it
    });
  });
});

describe("two-level comparison: only the 4 KiB pieces that differ inside changed blocks are sent", () => {
  const FINE = 4096;

  for (const compress of [false, true]) {
    it(`scattered 4 KiB writes cost about 4 KiB each${compress ? ", with lz4" : ""}`, async () => {
      const seed = testSeed(`two-level ${compress}`);
      const source = join(scratch.dir, `fine-src-${compress}.img`);
      const target = join(scratch.dir, `fine-dst-${compress}.img`);
      const size = 64 * 1024 * 1024 + 5000; // a short last block and a short last piece
      writeMixedImage(source, size, seed);
      const state = new MemoryStateStore();
      fulfilled((await copyInProcess({ source, target, state })).target);
      const pieces = scatter(source, 60, seed + 1, FINE);
      const fd = openSync(source, "r+");
      writeSync(fd, seededBytes(5000, seed + 2), 0, 5000, size - 5000); // the tail, across two pieces
      closeSync(fd);
      pieces.add(Math.floor((size - 5000) / FINE)).add(Math.floor((size - 1) / FINE));

      const stats = new TransferStats();
      const r = await copyInProcess({ source, target, state, source_: { stats, fineSize: FINE, compress } });
      fulfilled(r.source);
      const t = fulfilled(r.target);
      expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
      expect(state.last).toMatchObject({ complete: true, verified: true });
      // The target read its copy once, and each offered block once more: its answer's read is
      // kept for patching in the pieces, not read a third time.
      expect(t.stats.readBytes).toBeLessThanOrEqual(size + stats.changedBlocks * BS);
      expect(t.stats.readBytes).toBeGreaterThanOrEqual(stats.changedBlocks * BS);
      // Offers carry 16 digests of 16 bytes per changed block; the rest is the pieces.
      const offerBytes = stats.changedBlocks * (BS / FINE) * 16;
      console.log(
        `${pieces.size} pieces in ${stats.changedBlocks} blocks changed; ${r.bytes.aToB} bytes sent (offers ${offerBytes})`,
      );
      expect(r.bytes.aToB).toBeLessThanOrEqual(1.1 * pieces.size * FINE + offerBytes + 64 * 1024);
      expect(r.bytes.aToB).toBeLessThan(stats.changedBlocks * BS * 0.5);
    });
  }

  it("repairs blocks changed behind the target's back and blocks that became zero", async () => {
    const seed = testSeed("two-level repair");
    const source = join(scratch.dir, "fine-rep-src.img");
    const target = join(scratch.dir, "fine-rep-dst.img");
    writeMixedImage(source, 48 * 1024 * 1024, seed);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    scatter(target, 25, seed + 2, FINE);
    const fd = openSync(source, "r+");
    writeSync(fd, Buffer.alloc(3 * BS + 4096), 0, 3 * BS + 4096, 8 * BS - 4096); // zeros across blocks
    closeSync(fd);
    // Written since its last sync: repaired only when forced (the refusal is tested above).
    const r = await copyInProcess({ source, target, state, source_: { fineSize: FINE, force: true } });
    fulfilled(r.source);
    fulfilled(r.target);
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
  });

  for (const checkpointBytes of [undefined, 16 << 20]) {
    it(`an interrupted two-level delta, then a new sync, gives an identical target (checkpoint ${checkpointBytes ?? "default"})`, async () => {
      const seed = testSeed(`two-level interrupted ${checkpointBytes}`);
      const source = join(scratch.dir, `fine-int-src-${checkpointBytes}.img`);
      const target = join(scratch.dir, `fine-int-dst-${checkpointBytes}.img`);
      writeMixedImage(source, 96 * 1024 * 1024, seed);
      const state = new MemoryStateStore();
      fulfilled((await copyInProcess({ source, target, state })).target);
      scatter(source, 600, seed + 1, FINE); // a third of the blocks changed, in pieces: short runs, offered
      const cut = await copyInProcess({
        source,
        target,
        state,
        cutAfterBytes: 1024 * 1024,
        source_: { fineSize: FINE },
        target_: { checkpointBytes },
      });
      expect(cut.source.status).toBe("rejected");
      expect(state.last).toMatchObject({ complete: false });
      const stats = new TransferStats();
      const again = await copyInProcess({ source, target, state, source_: { fineSize: FINE, stats } });
      expect(stats.rawBytes).toBeLessThan(stats.changedBlocks * BS * 0.5); // pieces, not whole blocks
      fulfilled(again.source);
      fulfilled(again.target);
      expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
      expect(state.last?.complete).toBe(true);
    });
  }
});
