import { execFileSync } from "node:child_process";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { localTargetName } from "../../src/job/targets.js";
import { run } from "../helpers/cli.js";
import { scatter, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { attachLoop, detachLoop, loopUnavailable } from "../helpers/loop.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const skipReason = loopUnavailable();
if (skipReason) console.log(`block device sync tests skipped: ${skipReason}`);
const scratch = scratchDir();
const devices: string[] = [];
afterAll(() => {
  for (const d of devices) detachLoop(d);
  scratch.remove();
});

function loop(name: string, bytes: Buffer): string {
  const file = join(scratch.dir, name);
  writeFileSync(file, bytes);
  const device = attachLoop(file);
  devices.push(device);
  return device;
}

const stateDir = () => join(scratch.dir, "state");

describe.skipIf(skipReason !== undefined)("sync to block devices", () => {
  it("copies an image onto a larger device and verifies it by re-reading", async () => {
    const source = join(scratch.dir, "src.img");
    const data = writeMixedImage(source, 20 * 1024 * 1024 + 512, 31);
    const device = loop("big.img", seededBytes(32 * 1024 * 1024, 32));
    const r = await run(["sync", "--json", "--verify", "--state-dir", stateDir(), source, device]);
    expect(r.code).toBe(EXIT.ok);
    const copy = readFileSync(device).subarray(0, data.length);
    expect(copy.equals(data)).toBe(true);
    const state = JSON.parse(readFileSync(join(stateDir(), `${localTargetName(device)}.state.json`), "utf8")).state;
    expect(state).toMatchObject({ complete: true, verified: true });
  });

  it("refuses a device smaller than the source, with its bytes unchanged", async () => {
    const source = join(scratch.dir, "src2.img");
    writeMixedImage(source, 20 * 1024 * 1024, 33);
    const before = seededBytes(8 * 1024 * 1024, 34);
    const device = loop("small.img", before);
    const r = await run(["sync", "--state-dir", stateDir(), source, device]);
    expect(r.code).toBe(EXIT.targetTooSmall);
    expect(r.stderr).toMatch(/is 8388608 bytes, the source 20971520/);
    expect(readFileSync(device).equals(before)).toBe(true);
  });

  it("uses the digest cache until the device is written outside blockferry, then compares in full", async () => {
    const seed = testSeed("device cache");
    const source = join(scratch.dir, "src4.img");
    writeMixedImage(source, 20 * 1024 * 1024, seed);
    const device = loop("cached.img", seededBytes(24 * 1024 * 1024, seed + 1));
    const states = join(scratch.dir, "state-cached");
    const sync = async (...flags: string[]) => {
      const r = await run(["sync", "--json", "--state-dir", states, ...flags, source, device]);
      expect(r.code, r.stderr).toBe(EXIT.ok);
      expect(
        readFileSync(device)
          .subarray(0, 20 * 1024 * 1024)
          .equals(readFileSync(source)),
      ).toBe(true);
      return { ...r, summary: JSON.parse(r.stdout) };
    };
    // A write outside blockferry makes the copy diverge: refused, the device untouched, until --force.
    const refusedAsDiverged = async () => {
      const before = readFileSync(device);
      const r = await run(["sync", "--json", "--state-dir", states, source, device]);
      expect(r.code, r.stderr).toBe(EXIT.diverged);
      expect(readFileSync(device).equals(before)).toBe(true);
    };
    await sync();
    const changed = scatter(source, 10, seed + 2);
    const cached = await sync();
    expect(cached.summary).toMatchObject({ mode: "delta", digestsFrom: "cache" });
    // The two-level comparison reads the changed blocks it is offered, and nothing else.
    expect(cached.summary.bytes.targetRead).toBe(changed.size * 65536);
    // Written through the device itself (a mount would do the same): the kernel counts it.
    const fd = openSync(device, "r+");
    writeSync(fd, seededBytes(4096, seed + 3), 0, 4096, 3 * 65536);
    fsyncSync(fd);
    closeSync(fd);
    scatter(source, 10, seed + 4);
    await refusedAsDiverged();
    const compared = await sync("--force");
    expect(compared.summary).toMatchObject({ mode: "delta", digestsFrom: "target" });
    expect(compared.summary.bytes.targetRead).toBeGreaterThan(0);
    expect(compared.stderr).toMatch(/digest cache is not used: the target was written outside blockferry/);
    // Discarded (blkdiscard, fstrim through a mount): counted apart from writes, seen too.
    execFileSync("blkdiscard", ["--offset", String(4 * 65536), "--length", String(65536), device]);
    scatter(source, 3, seed + 5);
    await refusedAsDiverged();
    const discarded = await sync("--force");
    expect(discarded.summary).toMatchObject({ digestsFrom: "target" });
    // Written through the loop device's backing file, around the device: its stamp is part of the device's.
    const backing = openSync(join(scratch.dir, "cached.img"), "r+");
    writeSync(backing, seededBytes(4096, seed + 6), 0, 4096, 7 * 65536);
    fsyncSync(backing);
    closeSync(backing);
    await refusedAsDiverged();
    const around = await sync("--force");
    expect(around.summary).toMatchObject({ digestsFrom: "target" });
    const untouched = await sync();
    expect(untouched.summary).toMatchObject({ digestsFrom: "cache", bytes: { targetRead: 0 } });
  });

  it("refuses a mounted device", async () => {
    const source = join(scratch.dir, "src3.img");
    writeMixedImage(source, 4 * 1024 * 1024, 35);
    const device = loop("mounted.img", Buffer.alloc(16 * 1024 * 1024));
    execFileSync("mkfs.ext4", ["-q", device]);
    const mnt = join(scratch.dir, "mnt");
    mkdirSync(mnt);
    execFileSync("mount", [device, mnt]);
    try {
      const r = await run(["sync", "--state-dir", stateDir(), source, device]);
      expect(r.code).toBe(EXIT.busy);
    } finally {
      execFileSync("umount", [mnt]);
    }
  });
});
