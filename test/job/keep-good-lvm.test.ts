/**
 * --keep-good lvm, what can be shown without device-mapper: which LVs the
 * keeper will touch. It removes or replaces only its own snapshot of the
 * target (named LV-blockferry-good, tagged blockferry-good, of that origin),
 * never another LV, whatever the state file records. What the snapshots hold,
 * overflow and the merge are tried on real LVM in test/guest (keep-thick,
 * keep-thin). Also the start-up refusals of targets that are not LVs.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { lvmKeeper, restoreLvm } from "../../src/job/keep-good-lvm.js";
import { run } from "../helpers/cli.js";
import { scratchDir } from "../helpers/files.js";
import { attachLoop, detachLoop, loopUnavailable } from "../helpers/loop.js";
import { type LvmStandIn, lvmStandIn } from "../helpers/lvm.js";
import { seededBytes } from "../helpers/random.js";

const GOOD = "pool-blockferry-good";
let lvm: LvmStandIn;
let restoreEnv: () => void;
const log = () => {};

beforeEach(() => {
  lvm = lvmStandIn({ bytes: seededBytes(1 << 20, 11) });
  restoreEnv = lvm.useEnv();
});
afterEach(() => {
  restoreEnv();
  lvm.cleanup();
});

const tools = (name: string) => lvm.commands().filter((c) => c[0] === name);
const keeper = () => lvmKeeper("vg0/pool", undefined, log);

describe("the LVM keeper touches only its own snapshot", () => {
  it("never removes an LV of its snapshot's name that is not ours, nor an LV the state file names instead", async () => {
    lvm.run("lvcreate", ["-s", "-n", GOOD, "-l", "1", "vg0/pool"]); // someone's own snapshot, untagged
    lvm.clearCommands();
    await expect(keeper().drop(`vg0/${GOOD}`)).rejects.toThrow(
      /vg0\/pool-blockferry-good exists but is not ours \(not a snapshot of vg0\/pool tagged blockferry-good\)/,
    );
    // A state file edited (or written for another LV) to name the volume itself.
    await expect(keeper().drop("vg0/pool")).rejects.toThrow(
      /recorded at "vg0\/pool", but the good copy of vg0\/pool is kept at vg0\/pool-blockferry-good: not touching/,
    );
    await expect(restoreLvm("vg0/pool", "vg0/pool", log)).rejects.toThrow(/not touching "vg0\/pool"/);
    expect(tools("lvremove")).toEqual([]);
    expect(lvm.lvs()).toEqual(["pool", GOOD]);
  });

  it("preserve refuses an LV of its name that is not ours; replaces a snapshot of ours left behind", async () => {
    lvm.run("lvcreate", ["-s", "-n", GOOD, "-l", "1", "vg0/pool"]);
    await expect(keeper().preserve()).rejects.toThrow(/exists but is not ours/);
    expect(tools("lvcreate").length).toBe(1); // only the test's own
    lvm.run("lvremove", ["-f", `vg0/${GOOD}`]);
    lvm.run("lvcreate", ["-s", "-n", GOOD, "--addtag", "blockferry-good", "-l", "1", "vg0/pool"]);
    lvm.clearCommands();
    expect(await keeper().preserve()).toBe(`vg0/${GOOD}`);
    expect(tools("lvremove")).toEqual([["lvremove", "-f", `vg0/${GOOD}`]]);
    expect(tools("lvcreate")).toEqual([
      [
        ...["lvcreate", "--snapshot", "--permission", "r", "--name", GOOD, "--addtag", "blockferry-good"],
        ...["-l", "20%ORIGIN", "vg0/pool"],
      ],
    ]);
    expect(lvm.state().lvs.find((lv) => lv.name === GOOD)).toMatchObject({
      origin: "pool",
      tags: ["blockferry-good"],
      permission: "r",
    });
    expect(await keeper().lost(`vg0/${GOOD}`)).toBe("");
    await keeper().drop(`vg0/${GOOD}`);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(await keeper().lost(`vg0/${GOOD}`)).toBe(`its snapshot vg0/${GOOD} is gone`);
  });
});

describe("--keep-good lvm is refused at start for a target that is not an LV", () => {
  const scratch = scratchDir();
  afterEach(() => rmSync(join(scratch.dir, "copy.img"), { force: true }));
  afterAll(() => scratch.remove());

  it("an image file, existing or to be created: nothing written", async () => {
    const source = join(scratch.dir, "src.img");
    writeFileSync(source, seededBytes(1 << 20, 3));
    const copy = join(scratch.dir, "copy.img");
    const created = await run(["sync", "--create", "--keep-good", "lvm", source, copy]);
    expect(created.code).toBe(EXIT.unsupported);
    expect(created.stderr).toMatch(/--keep-good \S+=lvm: ".*copy\.img" does not exist; LVM snapshots keep LVM logical/);
    writeFileSync(copy, "held");
    const image = await run(["sync", "--keep-good", "lvm", source, copy]);
    expect(image.code).toBe(EXIT.unsupported);
    expect(image.stderr).toMatch(/is not a block device; LVM snapshots keep .* --keep-good reflink/);
    expect(readFileSync(copy, "utf8")).toBe("held");
  });

  it.skipIf(loopUnavailable() !== undefined)("a block device that is not an LV (a loop device)", async () => {
    const file = join(scratch.dir, "loop.img");
    writeFileSync(file, Buffer.alloc(1 << 20, 7));
    const source = join(scratch.dir, "src.img");
    writeFileSync(source, seededBytes(1 << 20, 4));
    const device = attachLoop(file);
    try {
      const r = await run(["sync", "--keep-good", "lvm", "--state-dir", scratch.dir, source, device]);
      expect(r.code, r.stderr).toBe(EXIT.unsupported);
      expect(r.stderr).toMatch(new RegExp(`"${device}" must be an LVM logical volume, which LVM snapshots keep`));
      expect(readFileSync(file).equals(Buffer.alloc(1 << 20, 7))).toBe(true);
    } finally {
      detachLoop(device);
    }
  });
});
