import { execFileSync } from "node:child_process";
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlockferryError } from "../src/errors.js";
import { addon } from "../src/native/addon.js";
import { compressBlocks, digestBlocks, openVolume, type Volume } from "../src/native/index.js";
import { scratchDir, sha256 } from "./helpers/files.js";
import { seededBytes } from "./helpers/random.js";

const scratch = scratchDir();
const size = 16 * 4096;
const path = join(scratch.dir, "target.img");
let volume: Volume;
let before: string;

beforeAll(async () => {
  writeFileSync(path, seededBytes(size, 1));
  before = sha256(path);
  volume = await openVolume(path, { write: true });
});
afterAll(async () => {
  await volume.close();
  expect(sha256(path)).toBe(before); // no bad call wrote anything
  scratch.remove();
});

async function expectCode(call: () => Promise<unknown>, code: string, message?: RegExp) {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BlockferryError);
  expect(error).toMatchObject({ code });
  if (message) expect((error as Error).message).toMatch(message);
  return error as BlockferryError;
}

describe("bad input is refused with a typed error and nothing written", () => {
  const blockSize = 4096;
  const buffer = () => volume.allocBuffer(2 * blockSize);

  it("refuses negative, fractional and misaligned offsets", async () => {
    await expectCode(
      () => volume.write(buffer(), -4096, 4096, { blockSize }),
      "E_INVALID_ARG",
      /offset: expected an integer >= 0, got -4096/,
    );
    await expectCode(() => volume.write(buffer(), 1.5, 4096, { blockSize }), "E_INVALID_ARG", /offset/);
    await expectCode(
      () => volume.write(buffer(), 512, 4096, { blockSize }),
      "E_INVALID_ARG",
      /offset: expected a multiple of 4096, got 512/,
    );
    await expectCode(() => volume.read(buffer(), 100, 4096, { blockSize }), "E_INVALID_ARG", /offset/);
  });

  it("refuses ranges past the end", async () => {
    await expectCode(() => volume.write(buffer(), size, 4096, { blockSize }), "E_RANGE", /past the end/);
    await expectCode(() => volume.read(buffer(), size - 4096, 8192, { blockSize }), "E_RANGE");
    await expectCode(() => volume.zeroRange(size - 4096, 8192), "E_RANGE");
  });

  it("refuses buffers too small, bad block sizes and short zero flags", async () => {
    await expectCode(
      () => volume.write(buffer(), 0, 3 * 4096, { blockSize }),
      "E_INVALID_ARG",
      /buffer: expected at least 12288 bytes, got a Buffer of 8192 bytes/,
    );
    await expectCode(
      () => volume.write(buffer(), 0, 4096, { blockSize: 3000 }),
      "E_INVALID_ARG",
      /blockSize: expected a power of two/,
    );
    await expectCode(
      () => volume.write(buffer(), 0, 8192, { blockSize, zero: new Uint8Array(1) }),
      "E_INVALID_ARG",
      /zero/,
    );
  });

  it("refuses wrong types", async () => {
    const v = volume as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await expectCode(
      () => v.write?.call(volume, "not a buffer", 0, 4096, { blockSize }) ?? Promise.resolve(),
      "E_INVALID_ARG",
      /buffer: expected a Buffer or Uint8Array, got "not a buffer"/,
    );
    await expectCode(
      () => v.read?.call(volume, buffer(), "0", 4096, { blockSize }) ?? Promise.resolve(),
      "E_INVALID_ARG",
      /offset/,
    );
    await expectCode(() => volume.read(buffer(), 0, 4096, { blockSize, seed: -1n }), "E_INVALID_ARG", /seed/);
    await expectCode(() => digestBlocks(new Uint16Array(4) as unknown as Uint8Array, 4096, 0n), "E_INVALID_ARG");
    await expectCode(() => compressBlocks(Buffer.alloc(10), 0), "E_INVALID_ARG", /blockSize/);
    await expectCode(() => openVolume(""), "E_INVALID_ARG", /path/);
  });

  it("refuses paths with NUL bytes, missing options and oversized requests", async () => {
    await expectCode(() => openVolume(`${path}\0/other`, { write: true }), "E_INVALID_ARG", /NUL/);
    const v = volume as unknown as { read(...args: unknown[]): Promise<unknown> };
    await expectCode(() => v.read(buffer(), 0, 4096), "E_INVALID_ARG", /options: expected an options object/);
    expect(() => volume.allocBuffer(2 ** 52)).toThrow(expect.objectContaining({ code: "E_INVALID_ARG" }));
    // One digest per byte of 64 MiB would be a 1 GiB answer: refused.
    await expectCode(
      () => digestBlocks(Buffer.alloc(64 << 20), 1, 0n),
      "E_INVALID_ARG",
      /blockSize: expected at least/,
    );
  });

  it("a buffer in use by native work cannot be transferred away", async () => {
    const data = new Uint8Array(64 << 20).fill(1);
    const expected = await digestBlocks(Buffer.alloc(64 << 20, 1), 4096, 0n);
    const work = digestBlocks(data, 4096, 0n);
    // Pinned: a transfer copies instead of detaching the memory the worker reads.
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(data.buffer.byteLength).toBe(64 << 20);
    expect((await work).digests.equals(expected.digests)).toBe(true);
  });

  it("the addon itself rejects wrong types even without the TypeScript checks", async () => {
    const raw = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => raw.digestBlocks?.("text", 4096, 0n)).toThrow(TypeError);
    expect(() => raw.digestBlocks?.(Buffer.alloc(1), 4096, 5)).toThrow(/bigint/);
    expect(() => raw.compressBlocks?.(Buffer.alloc(1), -1)).toThrow(TypeError);
    expect(() =>
      raw.decodeBlocks?.(Buffer.alloc(1), new Uint32Array(0), Buffer.alloc(1), Buffer.alloc(4096), 4096),
    ).toThrow(/one entry per block/);
  });

  it("refuses writes to a volume opened read-only", async () => {
    const reader = await openVolume(path);
    await expectCode(() => reader.write(reader.allocBuffer(4096), 0, 4096, { blockSize }), "E_READ_ONLY");
    await expectCode(() => reader.zeroRange(0, 4096), "E_READ_ONLY");
    await reader.close();
  });

  it("refuses every call on a closed volume", async () => {
    // Another file: an image open for writing is locked, even against this process.
    const otherPath = join(scratch.dir, "closed.img");
    writeFileSync(otherPath, Buffer.alloc(65536));
    const other = await openVolume(otherPath, { write: true });
    const b = other.allocBuffer(4096);
    await other.close();
    expect(other.closed).toBe(true);
    await expectCode(() => other.read(b, 0, 4096, { blockSize }), "E_CLOSED", /closed/);
    await expectCode(() => other.write(b, 0, 4096, { blockSize }), "E_CLOSED");
    await expectCode(() => other.sync(), "E_CLOSED");
    expect(() => other.info).toThrow(/closed/);
    await other.close(); // closing twice is harmless
  });
});

describe("system failures carry errno, operation and offset", () => {
  it("a missing path is E_NOT_FOUND with ENOENT", async () => {
    const e = await expectCode(() => openVolume(join(scratch.dir, "missing.img")), "E_NOT_FOUND");
    expect(e.errno).toBe(constants.errno.ENOENT);
    expect(e.op).toMatch(/^open /);
  });

  it("a FIFO is refused without hanging the open", async () => {
    const fifo = join(scratch.dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    await expectCode(() => openVolume(fifo), "E_UNSUPPORTED", /neither a block device nor a regular file/);
    await expectCode(() => openVolume(fifo, { write: true }), "E_UNSUPPORTED");
  });

  it("the native layer itself refuses writes to a read-only volume and calls on a closed one", async () => {
    const raw = await addon.openVolume(path, false, false, true);
    const b = addon.allocAligned(4096, 4096);
    await expect(raw.write(b, 0, 4096, 4096, null)).rejects.toMatchObject({
      kind: "invalid",
      errno: constants.errno.EBADF,
    });
    await raw.close();
    expect(() => raw.info()).toThrow(expect.objectContaining({ kind: "closed" }));
  });

  it("a directory is neither a device nor an image", async () => {
    const dir = join(scratch.dir, "a-directory");
    mkdirSync(dir);
    await expectCode(() => openVolume(dir), "E_UNSUPPORTED", /neither a block device nor a regular file/);
  });

  it("an image that shrinks under a reader gives E_RANGE at the offset where data ended", async () => {
    const shrinking = join(scratch.dir, "shrinking.img");
    writeFileSync(shrinking, seededBytes(8 * 4096, 2));
    const reader = await openVolume(shrinking);
    truncateSync(shrinking, 4096 * 3);
    const e = await expectCode(
      () => reader.read(reader.allocBuffer(8 * 4096), 0, 8 * 4096, { blockSize: 4096 }),
      "E_RANGE",
      /shrank/,
    );
    expect(e.offset).toBe(3 * 4096);
    expect(e.op).toBe("read");
    await reader.close();
  });
});
