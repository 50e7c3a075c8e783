import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openVolume, type Volume } from "../../src/native/index.js";
import { copyInProcess, fulfilled, MemoryStateStore, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { compressibleBytes, seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("full copy, source and target in one process", () => {
  it("copies an image of odd size byte for byte and marks it complete", async () => {
    const seed = testSeed("full copy");
    const source = join(scratch.dir, "src.img");
    const target = join(scratch.dir, "dst.img");
    const data = writeMixedImage(source, 40 * 1024 * 1024 + 12345, seed);
    const state = new MemoryStateStore();
    const r = await copyInProcess({ source, target, state });
    const s = fulfilled(r.source);
    const t = fulfilled(r.target);
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(s.fingerprint).toBe(t.fingerprint);
    expect(t.verified).toBe(true);
    expect(state.last).toMatchObject({ complete: true, verified: true });
    expect(state.saved[0]).toMatchObject({ complete: false, blocksDone: 0 }); // incomplete before the first write
    // The zero stretch did not travel: about 15% of the image is zeros.
    const zeros = Math.floor(data.length * 0.45) - Math.floor(data.length * 0.3);
    expect(r.bytes.aToB).toBeLessThan(data.length - zeros + 64 * 1024 * 2);
    expect(r.bytes.aToB).toBeGreaterThan(data.length - zeros - 64 * 1024 * 2);
  });

  it("sends holes as zero runs without reading them, and the copy is sparse", async () => {
    const source = join(scratch.dir, "sparse-src.img");
    const target = join(scratch.dir, "sparse-dst.img");
    const size = 256 * 1024 * 1024;
    const piece = seededBytes(1024 * 1024, 5);
    writeFileSync(source, "");
    const fs = await import("node:fs/promises");
    const h = await fs.open(source, "r+");
    await h.truncate(size);
    await h.write(piece, 0, piece.length, 100 * 1024 * 1024);
    await h.close();
    const r = await copyInProcess({ source, target });
    const s = fulfilled(r.source);
    fulfilled(r.target);
    expect(s.stats.readBytes).toBe(1024 * 1024);
    expect(r.bytes.aToB).toBeLessThan(1024 * 1024 + 16 * 1024);
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(statSync(target).blocks * 512).toBeLessThan(4 * 1024 * 1024);
  });

  it("compresses with lz4 when asked, and the copy is identical", async () => {
    const seed = testSeed("lz4 copy");
    const source = join(scratch.dir, "z-src.img");
    const target = join(scratch.dir, "z-dst.img");
    const data = compressibleBytes(32 * 1024 * 1024, seed);
    writeFileSync(source, data);
    const r = await copyInProcess({ source, target, source_: { compress: true } });
    const s = fulfilled(r.source);
    fulfilled(r.target);
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(r.bytes.aToB).toBeLessThan(data.length * 0.6);
    expect(s.stats.compressedInBytes).toBeGreaterThan(data.length * 0.9);
  });

  it("verifies by re-reading the whole target when asked, and catches a copy that went wrong on its way to disk", async () => {
    const source = join(scratch.dir, "v-src.img");
    const target = join(scratch.dir, "v-dst.img");
    const data = writeMixedImage(source, 8 * 1024 * 1024, 3);
    const r = await copyInProcess({ source, target, source_: { verify: true } });
    const t = fulfilled(r.target);
    expect(t.verified).toBe(true);
    // The whole copy was read again: its data, and its holes shorter than a batch (read as zeros).
    const written = await openVolume(target);
    const { extents } = await written.dataExtents(0, written.size, 1024).finally(() => written.close());
    const dataBytes = extents.reduce((n, [start, end]) => n + end - start, 0);
    expect(dataBytes).toBeLessThan(data.length); // the zero stretch became a hole
    expect(t.stats.readBytes).toBe(data.length);

    // A write that lands wrong (a byte flipped between the fingerprint and the disk): received
    // data agree with the source, so only the re-read can see it.
    const flipOneWrite = (volume: Volume) => {
      const writeSpans = volume.writeSpans.bind(volume);
      let flipped = false;
      volume.writeSpans = (buffer, spans, options) => {
        const length = spans[0]?.[1] ?? 0;
        if (!flipped && length > 0) {
          flipped = true;
          buffer[length - 1] = (buffer[length - 1] ?? 0) ^ 0x40;
        }
        return writeSpans(buffer, spans, options);
      };
    };
    const unverified = new MemoryStateStore();
    const wrong = await copyInProcess({
      source,
      target,
      state: unverified,
      onTargetOpen: flipOneWrite,
      source_: { full: true },
    });
    expect(fulfilled(wrong.target).verified).toBe(true); // without --verify nothing can tell
    expect(readFileSync(target).equals(data)).toBe(false);
    const state = new MemoryStateStore();
    const caught = await copyInProcess({
      source,
      target,
      state,
      onTargetOpen: flipOneWrite,
      source_: { full: true, verify: true },
    });
    expect(caught.target.status).toBe("rejected");
    expect(caught.target.status === "rejected" && caught.target.reason).toMatchObject({ code: "E_VERIFY" });
    expect(caught.source.status === "rejected" && caught.source.reason).toMatchObject({ code: "E_VERIFY" });
    expect(state.last).toMatchObject({ complete: false, verified: false });
  });

  it("refuses an unknown target name with nothing written", async () => {
    const source = join(scratch.dir, "u-src.img");
    const target = join(scratch.dir, "u-dst.img");
    writeMixedImage(source, 1024 * 1024, 4);
    writeFileSync(target, Buffer.alloc(10, 7));
    const state = new MemoryStateStore();
    const r = await copyInProcess({ source, target, targetName: "nope", state });
    expect(r.source.status).toBe("rejected");
    expect(r.source.status === "rejected" && r.source.reason).toMatchObject({ code: "E_UNKNOWN_TARGET" });
    expect(readFileSync(target).equals(Buffer.alloc(10, 7))).toBe(true);
    expect(state.saved).toHaveLength(0);
  });
});
