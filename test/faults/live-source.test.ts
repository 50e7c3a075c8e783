/**
 * A source mounted read-write changes under the copy: refused unless
 * --allow-live, whether named as the device or as the image file a loop
 * device serves. Real ext4 on a real loop device.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run } from "../helpers/cli.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { attachLoop, detachLoop, loopUnavailable } from "../helpers/loop.js";

const skip = loopUnavailable();
const scratch = scratchDir();
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const undo of cleanups.reverse()) {
    try {
      undo();
    } catch {
      // already undone
    }
  }
  scratch.remove();
});

describe.skipIf(skip !== undefined)("a source in use read-write", () => {
  it("is refused unless --allow-live; read-only it is copied", async () => {
    const image = join(scratch.dir, "fs.img");
    execFileSync("truncate", ["-s", "16M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", image]);
    const device = attachLoop(image);
    cleanups.push(() => detachLoop(device));
    const mnt = join(scratch.dir, "mnt");
    mkdirSync(mnt);
    execFileSync("mount", [device, mnt]);
    cleanups.push(() => execFileSync("umount", [mnt]));
    writeFileSync(join(mnt, "data"), "busy\n");

    for (const source of [device, image]) {
      const target = join(scratch.dir, "copy.img");
      const r = await run(["sync", "--create", source, target]);
      expect(r.code, r.stderr).toBe(EXIT.busy);
      expect(r.stderr).toContain(`${source} is mounted read-write at ${mnt}`);
      expect(r.stderr).toMatch(/--snapshot lvm.*--allow-live/);
      expect(existsSync(target)).toBe(false);
    }

    const live = join(scratch.dir, "live.img");
    const forced = await run(["sync", "--create", "--allow-live", device, live]);
    expect(forced.code, forced.stderr).toBe(EXIT.ok);
    expect(forced.stderr).toMatch(/WARNING: .* is mounted read-write at .*copying it live \(--allow-live\)/);

    execFileSync("mount", ["-o", "remount,ro", mnt]);
    const target = join(scratch.dir, "ro-copy.img");
    const ro = await run(["sync", "--create", device, target]);
    expect(ro.code, ro.stderr).toBe(EXIT.ok);
    expect(ro.stderr).not.toMatch(/WARNING/);
    expect(sha256(target)).toBe(sha256(image));
  });
});
