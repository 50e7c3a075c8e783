import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openVolume } from "../src/native/index.js";
import { scratchDir } from "./helpers/files.js";
import { attachLoop, detachLoop, loopUnavailable } from "./helpers/loop.js";
import { seededBytes, testSeed } from "./helpers/random.js";

const skipReason = loopUnavailable();
if (skipReason) console.log(`loop device tests skipped: ${skipReason}`);

const scratch = scratchDir();
const devices: string[] = [];
afterAll(() => {
  for (const d of devices) detachLoop(d);
  scratch.remove();
});

function loopWith(data: Buffer, name: string, sectorSize?: number): { file: string; device: string } {
  const file = join(scratch.dir, name);
  writeFileSync(file, data);
  const device = attachLoop(file, sectorSize === undefined ? {} : { sectorSize });
  devices.push(device);
  return { file, device };
}

describe.skipIf(skipReason !== undefined)("block devices (loop)", () => {
  it("reads a loop device with O_DIRECT, size and sector size from the kernel", async () => {
    const seed = testSeed("loop read");
    const data = seededBytes(32 * 1024 * 1024, seed);
    const { device } = loopWith(data, "read.img");
    const volume = await openVolume(device);
    expect(volume.info).toMatchObject({ isBlockDevice: true, size: data.length, sectorSize: 512, direct: true });
    const buffer = volume.allocBuffer(data.length);
    const result = await volume.read(buffer, 0, data.length, { blockSize: 1 << 20, seed: 3n });
    expect(result.direct).toBe(true);
    expect(buffer.equals(data)).toBe(true);
    await volume.close();
  });

  it("honours a 4096-byte logical sector", async () => {
    const data = seededBytes(4 * 1024 * 1024, 6);
    const { device } = loopWith(data, "4k.img", 4096);
    const volume = await openVolume(device);
    expect(volume.info.sectorSize).toBe(4096);
    const buffer = volume.allocBuffer(data.length);
    await volume.read(buffer, 0, data.length, { blockSize: 65536 });
    expect(buffer.equals(data)).toBe(true);
    await volume.close();
  });

  it("writes with O_DIRECT and zeroes runs with BLKZEROOUT", async () => {
    const seed = testSeed("loop write");
    const blockSize = 65536;
    const { file, device } = loopWith(seededBytes(16 * blockSize, seed), "write.img");
    const target = await openVolume(device, { write: true });
    const data = seededBytes(16 * blockSize, seed + 1);
    const zero = new Uint8Array(16);
    zero.fill(1, 4, 10);
    data.fill(0, 4 * blockSize, 10 * blockSize);
    const buffer = target.allocBuffer(data.length);
    data.copy(buffer);
    const result = await target.write(buffer, 0, data.length, { blockSize, zero });
    expect(result).toMatchObject({ direct: true, zeroMethod: "zero-out", bytesZeroed: 6 * blockSize });
    await target.sync();
    await target.close();
    execFileSync("blockdev", ["--flushbufs", device]);
    expect(readFileSync(file).equals(data)).toBe(true);
  });

  it("close() waits for transfers under way, so the device is free when it resolves", async () => {
    const { device } = loopWith(Buffer.alloc(64 * 1024 * 1024), "close.img");
    const target = await openVolume(device, { write: true });
    const buffer = target.allocBuffer(64 * 1024 * 1024);
    buffer.fill(3);
    const writing = target.write(buffer, 0, buffer.length, { blockSize: 1 << 20 });
    await target.close();
    const again = await openVolume(device, { write: true }); // E_BUSY if the first were still open
    await again.close();
    await writing;
  });

  it("refuses a second writer and a mounted device with E_BUSY", async () => {
    const { device } = loopWith(Buffer.alloc(16 * 1024 * 1024), "busy.img");
    const first = await openVolume(device, { write: true });
    await expect(openVolume(device, { write: true })).rejects.toMatchObject({ code: "E_BUSY" });
    await first.close();
    execFileSync("mkfs.ext4", ["-q", device]);
    const mountPoint = join(scratch.dir, "mnt");
    mkdirSync(mountPoint);
    execFileSync("mount", [device, mountPoint]);
    try {
      await expect(openVolume(device, { write: true })).rejects.toMatchObject({ code: "E_BUSY" });
      const reader = await openVolume(device); // reading a mounted device is allowed
      await reader.close();
    } finally {
      execFileSync("umount", [mountPoint]);
    }
  });
});
