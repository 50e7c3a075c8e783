import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openVolume } from "../src/native/index.js";
import { allocatedBytes, scratchDir } from "./helpers/files.js";
import { seededBytes, seededInts, testSeed } from "./helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("writing image files", () => {
  const blockSize = 65536;

  it("turns zero-flagged blocks into holes with identical bytes", async () => {
    const seed = testSeed("sparse write");
    const pick = seededInts(seed);
    const blocks = 128;
    const data = seededBytes(blocks * blockSize, seed);
    const zero = new Uint8Array(blocks);
    for (let i = 0; i < blocks; i++) {
      if (pick(4) !== 0) {
        zero[i] = 1;
        data.fill(0, i * blockSize, (i + 1) * blockSize);
      }
    }
    const write = async (name: string, flags: Uint8Array | undefined) => {
      const path = join(scratch.dir, name);
      const volume = await openVolume(path, { write: true, create: true });
      await volume.setSize(data.length);
      const buffer = volume.allocBuffer(data.length);
      data.copy(buffer);
      const result = await volume.write(buffer, 0, data.length, flags ? { blockSize, zero: flags } : { blockSize });
      await volume.sync();
      await volume.close();
      return { path, result };
    };
    const dense = await write("dense.img", undefined);
    const sparse = await write("sparse.img", zero);
    const zeroBytes = zero.reduce((n, z) => n + z, 0) * blockSize;
    expect(sparse.result.bytesZeroed).toBe(zeroBytes);
    expect(sparse.result.bytesWritten).toBe(data.length - zeroBytes);
    expect(sparse.result.zeroMethod).toBe("punch-hole");
    expect(sparse.result.direct).toBe(true);
    expect(readFileSync(sparse.path).equals(data)).toBe(true);
    expect(readFileSync(dense.path).equals(data)).toBe(true);
    expect(allocatedBytes(sparse.path)).toBeLessThanOrEqual(data.length - zeroBytes + blockSize);
    expect(allocatedBytes(sparse.path)).toBeLessThan(allocatedBytes(dense.path));
  });

  it("punches a hole over old data with zeroRange", async () => {
    const path = join(scratch.dir, "punch.img");
    const volume = await openVolume(path, { write: true, create: true });
    await volume.setSize(4 * blockSize);
    const buffer = volume.allocBuffer(4 * blockSize);
    seededBytes(4 * blockSize, 8).copy(buffer);
    await volume.write(buffer, 0, 4 * blockSize, { blockSize });
    await volume.sync();
    const before = allocatedBytes(path);
    expect(await volume.zeroRange(blockSize, 2 * blockSize)).toBe("punch-hole");
    await volume.close();
    const bytes = readFileSync(path);
    expect(bytes.subarray(blockSize, 3 * blockSize).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(0, blockSize).equals(buffer.subarray(0, blockSize))).toBe(true);
    expect(allocatedBytes(path)).toBe(before - 2 * blockSize);
  });

  it("writes a short last block at the end of an image", async () => {
    const path = join(scratch.dir, "tail.img");
    const size = 3 * 4096 + 123;
    const data = seededBytes(size, 9);
    const volume = await openVolume(path, { write: true, create: true });
    await volume.setSize(size);
    const buffer = volume.allocBuffer(size);
    data.copy(buffer);
    await volume.write(buffer.subarray(8192), 8192, size - 8192, { blockSize: 4096 });
    await volume.write(buffer, 0, 8192, { blockSize: 4096 });
    await volume.close();
    expect(statSync(path).size).toBe(size);
    expect(readFileSync(path).equals(data)).toBe(true);
  });
});
