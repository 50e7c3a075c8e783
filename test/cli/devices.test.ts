import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { attachLoop, detachLoop, loopUnavailable } from "../helpers/loop.js";
import { seededBytes } from "../helpers/random.js";

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
    const state = JSON.parse(readFileSync(join(stateDir(), "local.state.json"), "utf8")).state;
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
