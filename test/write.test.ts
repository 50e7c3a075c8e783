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

describe("writeSpans: scattered ranges in one native call", () => {
  const blockSize = 4096;

  it("writes each span from the buffer block after block, zero-flagged blocks as holes, and nothing else", async () => {
    const seed = testSeed("write spans");
    const size = 64 * blockSize + 1000;
    const before = seededBytes(size, seed);
    const path = join(scratch.dir, "spans.img");
    const volume = await openVolume(path, { write: true, create: true });
    await volume.setSize(size);
    const old = volume.allocBuffer(size);
    before.copy(old);
    await volume.write(old, 0, size, { blockSize });
    // Two blocks at 3, one at 10, and the short last block: laid out one after another in the buffer.
    const spans = [
      [3 * blockSize, 2 * blockSize],
      [10 * blockSize, blockSize],
      [64 * blockSize, 1000],
    ] as const;
    const data = seededBytes(4 * blockSize, seed + 1);
    data.fill(0, blockSize, 2 * blockSize); // the second block of the first span is zeros
    const buffer = volume.allocBuffer(4 * blockSize);
    data.copy(buffer);
    const result = await volume.writeSpans(buffer, spans, { blockSize, zero: Uint8Array.of(0, 1, 0, 0) });
    await volume.close();
    const expected = Buffer.from(before);
    data.copy(expected, 3 * blockSize, 0, 2 * blockSize);
    data.copy(expected, 10 * blockSize, 2 * blockSize, 3 * blockSize);
    data.copy(expected, 64 * blockSize, 3 * blockSize, 3 * blockSize + 1000);
    expect(readFileSync(path).equals(expected)).toBe(true);
    expect(result).toMatchObject({ bytesWritten: 2 * blockSize + 1000, bytesZeroed: blockSize });
  });

  it("refuses spans past the end, unaligned, or more than the buffer holds, writing nothing", async () => {
    const path = join(scratch.dir, "spans-bad.img");
    const volume = await openVolume(path, { write: true, create: true });
    await volume.setSize(16 * blockSize);
    const buffer = volume.allocBuffer(2 * blockSize);
    buffer.fill(7);
    const bad: Array<ReadonlyArray<readonly [number, number]>> = [
      [[15 * blockSize, 2 * blockSize]],
      [[100, blockSize]],
      [
        [0, blockSize],
        [4 * blockSize, 2 * blockSize],
      ],
      [],
    ];
    for (const spans of bad) {
      await expect(volume.writeSpans(buffer, spans, { blockSize })).rejects.toMatchObject({
        code: expect.stringMatching(/^E_(RANGE|INVALID_ARG)$/),
      });
    }
    await volume.close();
    expect(readFileSync(path).equals(Buffer.alloc(16 * blockSize))).toBe(true);
  });
});
