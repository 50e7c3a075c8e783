import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openVolume } from "../src/native/index.js";
import { scratchDir } from "./helpers/files.js";
import { seededBytes, testSeed } from "./helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("reading image files", () => {
  const sizes = [1, 511, 4095, 4097, 65536 + 3, 5 * 1024 * 1024 + 333];

  it.each(sizes)("reads a %i-byte file exactly as readFileSync does", async (size) => {
    const seed = testSeed(`read ${size}`);
    const path = join(scratch.dir, `odd-${size}.img`);
    writeFileSync(path, seededBytes(size, seed));
    const volume = await openVolume(path);
    expect(volume.size).toBe(size);
    const buffer = volume.allocBuffer(size);
    // In batches of 2 blocks, so the short last block ends a batch of its own.
    const blockSize = 4096;
    for (let offset = 0; offset < size; offset += 2 * blockSize) {
      const length = Math.min(2 * blockSize, size - offset);
      const result = await volume.read(buffer.subarray(offset), offset, length, { blockSize });
      expect(result.direct).toBe(true);
    }
    await volume.close();
    expect(buffer.subarray(0, size).equals(readFileSync(path))).toBe(true);
  });

  it("reads a whole file in one batch of large blocks", async () => {
    const seed = testSeed("one batch");
    const size = 9 * 1024 * 1024 + 100;
    const path = join(scratch.dir, "big.img");
    writeFileSync(path, seededBytes(size, seed));
    const volume = await openVolume(path);
    const buffer = volume.allocBuffer(size);
    const result = await volume.read(buffer, 0, size, { blockSize: 1 << 20, seed: 1n });
    expect(result.digests?.length).toBe(10 * 16);
    await volume.close();
    expect(buffer.subarray(0, size).equals(readFileSync(path))).toBe(true);
  });

  it("reads through the page cache when asked not to use O_DIRECT", async () => {
    const path = join(scratch.dir, "buffered.img");
    const data = seededBytes(10000, 3);
    writeFileSync(path, data);
    const volume = await openVolume(path, { direct: false });
    expect(volume.info.direct).toBe(false);
    const buffer = Buffer.alloc(10000); // not aligned: fine without O_DIRECT
    const result = await volume.read(buffer, 0, 10000, { blockSize: 4096 });
    expect(result.direct).toBe(false);
    expect(buffer.equals(data)).toBe(true);
    await volume.close();
  });

  it("falls back to buffered reads for an unaligned buffer and says so", async () => {
    const path = join(scratch.dir, "unaligned.img");
    const data = seededBytes(8192, 4);
    writeFileSync(path, data);
    const volume = await openVolume(path);
    const backing = volume.allocBuffer(8192 + 4096);
    const unaligned = backing.subarray(1, 1 + 8192);
    const result = await volume.read(unaligned, 0, 8192, { blockSize: 4096 });
    expect(result.direct).toBe(false);
    expect(unaligned.equals(data)).toBe(true);
    await volume.close();
  });
});
