import { spawn } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlockferryError } from "../../src/errors.js";
import {
  lockFileName,
  type SnapshotRequest,
  snapshotName,
  snapshotSizeArgs,
  takeLvmSnapshot,
} from "../../src/host/lvm.js";
import { failure } from "../helpers/failure.js";
import { type LvmStandIn, lvmStandIn } from "../helpers/lvm.js";
import { seededBytes } from "../helpers/random.js";

const MiB = 1 << 20;
/** vg0: 16 extents of 1 MiB; pool: 4 of them, so 12 free. */
const ORIGIN = seededBytes(4 * MiB - 4096, 7);

const REPORT = ["--noheadings", "--nosuffix", "--units", "b", "--separator", "|"];
const SNAP = "pool-blockferry-snap";
const resolveCommand = (source: string) => [
  "lvs",
  ...REPORT,
  "-o",
  "vg_name,lv_name,lv_path,lv_attr,origin,lv_size,segtype,pool_lv,vg_free",
  "--",
  source,
];
const listCommand = ["lvs", ...REPORT, "-o", "lv_name,origin,lv_tags", "--", "vg0"];
const stateCommand = ["lvs", ...REPORT, "-o", "lv_path,lv_attr,data_percent,lv_size", "--", `vg0/${SNAP}`];
const createCommand = (...size: string[]) => [
  "lvcreate",
  "--snapshot",
  "--permission",
  "r",
  "--name",
  SNAP,
  "--addtag",
  "blockferry",
  ...size,
  "vg0/pool",
];
const removeCommand = ["lvremove", "-f", `vg0/${SNAP}`];

let lvm: LvmStandIn;
let restoreEnv: () => void;
let lockDir: string;
let lockFile: string;
let logs: string[];

beforeEach(() => {
  lvm = lvmStandIn({ bytes: ORIGIN });
  restoreEnv = lvm.useEnv();
  lockDir = join(lvm.dir, "run");
  lockFile = join(lockDir, "lvm-vg0-pool.lock");
  logs = [];
});
afterEach(() => {
  restoreEnv();
  lvm.cleanup();
});

function take(o: Partial<SnapshotRequest> = {}) {
  return takeLvmSnapshot({ source: "vg0/pool", log: (line) => logs.push(line), lockDir, ...o });
}

function lockFiles(): string[] {
  return existsSync(lockDir) ? readdirSync(lockDir) : [];
}

/** A pid that ran and has exited. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await once(child, "exit");
  return child.pid as number;
}

describe("takeLvmSnapshot", () => {
  it("runs lvs, lvcreate and lvs, holds the origin's lock meanwhile; remove() runs lvremove once however often called", async () => {
    const snapshot = await take();
    expect(lvm.commands()).toEqual([
      resolveCommand("vg0/pool"),
      listCommand,
      createCommand("-l", "100%FREE"),
      stateCommand,
    ]);
    expect(logs).toContain(
      "$ lvs --noheadings --nosuffix --units b --separator '|' -o vg_name,lv_name,lv_path,lv_attr,origin,lv_size,segtype,pool_lv,vg_free -- vg0/pool",
    );
    expect(logs).toContain(
      `$ lvcreate --snapshot --permission r --name ${SNAP} --addtag blockferry -l 100%FREE vg0/pool`,
    );
    expect(snapshot).toMatchObject({
      vg: "vg0",
      origin: "pool",
      name: SNAP,
      originPath: lvm.originFile,
      devicePath: join(lvm.dir, "dev", "vg0", SNAP),
    });
    expect(readFileSync(lockFile, "utf8")).toBe(`${process.pid}\n`);
    await snapshot.checkUsage();

    lvm.clearCommands();
    await Promise.all([snapshot.remove(), snapshot.remove()]);
    await snapshot.remove();
    expect(lvm.commands()).toEqual([removeCommand]);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(lockFiles()).toEqual([]);

    // The lock released, the next run goes ahead.
    await (await take()).remove();
  });

  it.each(["lots", "0%FREE", "101%VG", "5%PVS", "-1G", "20%"])(
    "refuses --snapshot-size %s before running LVM",
    async (size) => {
      const e = await failure(take({ size }));
      expect(e.code).toBe("E_INVALID_ARG");
      expect(e.message).toBe(
        `--snapshot-size: expected a size such as 20G, or 50%FREE, 100%ORIGIN or 10%VG, got ${JSON.stringify(size)}`,
      );
      expect(lvm.commands()).toEqual([]);
    },
  );

  it.each([
    ["vg0/nope", 'Failed to find logical volume "vg0/nope"'],
    ["/dev/sda", 'Volume group "sda" not found; Cannot process volume group sda'],
  ])("refuses %s, which is no LV", async (source, said) => {
    const e = await failure(take({ source }));
    expect(e.code).toBe("E_SNAPSHOT");
    expect(e.message).toBe(
      "source: expected an LVM logical volume (/dev/VG/LV, /dev/mapper/VG-LV or VG/LV), " +
        `got ${JSON.stringify(source)}: lvs failed with exit code 5: ${said}`,
    );
    expect(lvm.commands()).toEqual([resolveCommand(source)]);
    expect(lockFiles()).toEqual([]);
  });

  it("refuses a volume group name without asking LVM", async () => {
    const e = await failure(take({ source: "vg0" }));
    expect(e.code).toBe("E_INVALID_ARG");
    expect(e.message).toMatch(/^source: expected an LVM logical volume .* got "vg0"$/);
    expect(lvm.commands()).toEqual([]);
  });

  it.each([
    ["without our tag", () => lvm.run("lvcreate", ["-s", "-n", SNAP, "-l", "1", "vg0/pool"])],
    [
      "of another origin",
      () => {
        const data = join(lvm.dir, "dev", "vg0", "data");
        copyFileSync(lvm.originFile, data);
        lvm.update((s) => {
          s.lvs.push({ vg: "vg0", name: "data", path: data, extents: 4, origin: "", tags: [], permission: "w" });
          if (s.vgs.vg0) s.vgs.vg0.freeExtents -= 4;
        });
        lvm.run("lvcreate", ["-s", "-n", SNAP, "--addtag", "blockferry", "-l", "1", "vg0/data"]);
      },
    ],
  ])("does not touch an LV of our name %s", async (_, make) => {
    make();
    lvm.clearCommands();
    const e = await failure(take());
    expect(e.code).toBe("E_SNAPSHOT");
    expect(e.message).toBe(
      `vg0/${SNAP} exists but is not ours (not a snapshot of pool tagged blockferry): not touching it; rename or remove it`,
    );
    expect(lvm.commands()).toEqual([resolveCommand("vg0/pool"), listCommand]);
    expect(lvm.lvs()).toContain(SNAP);
    expect(lockFiles()).toEqual([]);
  });

  it("refuses while another running blockferry holds the origin's lock", async () => {
    const other = spawn("sleep", ["30"]);
    try {
      mkdirSync(lockDir);
      writeFileSync(lockFile, `${other.pid}\n`);
      const e = await failure(take());
      expect(e.code).toBe("E_BUSY");
      expect(e.message).toBe(
        `the snapshot of vg0/pool is locked by another blockferry run (pid ${other.pid}): wait for it to finish` +
          ` (if no blockferry runs as that pid, remove ${lockFile})`,
      );
      expect(lvm.commands()).toEqual([resolveCommand("vg0/pool")]);
      expect(readFileSync(lockFile, "utf8")).toBe(`${other.pid}\n`);
    } finally {
      other.kill();
    }
  });

  it("takes over the lock of a blockferry that no longer runs", async () => {
    const dead = await deadPid();
    mkdirSync(lockDir);
    writeFileSync(lockFile, `${dead}\n`);
    const snapshot = await take();
    expect(logs).toContain(
      `taking over the lock ${lockFile} of the snapshot of vg0/pool (held by pid ${dead}, which no longer runs)`,
    );
    expect(readFileSync(lockFile, "utf8")).toBe(`${process.pid}\n`);
    await snapshot.remove();
    expect(lockFiles()).toEqual([]);
  });

  it("lets only one of two concurrent runs snapshot the origin", async () => {
    const [a, b] = await Promise.allSettled([take(), take()]);
    const results = [a, b].map((r) => r?.status);
    expect(results.sort()).toEqual(["fulfilled", "rejected"]);
    const rejected = [a, b].find((r) => r?.status === "rejected") as PromiseRejectedResult;
    expect((rejected.reason as BlockferryError).code).toBe("E_BUSY");
    expect(lvm.commands().filter((c) => c[0] === "lvcreate")).toHaveLength(1);
    const fulfilled = [a, b].find((r) => r?.status === "fulfilled") as PromiseFulfilledResult<{
      remove(): Promise<void>;
    }>;
    await fulfilled.value.remove();
  });

  it("fails when lvcreate finds too little free space for the size given, leaving nothing behind", async () => {
    lvm.update((s) => {
      if (s.vgs.vg0) s.vgs.vg0.freeExtents = 2;
    });
    const e = await failure(take({ size: "3M" }));
    expect(e.code).toBe("E_SNAPSHOT");
    expect(e.message).toBe(
      'cannot create a snapshot of vg0/pool: lvcreate failed with exit code 5: Volume group "vg0" has insufficient free space (2 extents): 3 required.',
    );
    expect(lvm.commands()).toEqual([
      resolveCommand("vg0/pool"),
      listCommand,
      createCommand("-L", "3145728b"),
      listCommand,
    ]);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(lockFiles()).toEqual([]);
  });

  it("removes the snapshot when lvcreate fails after making it", async () => {
    lvm.update((s) => {
      s.simulate.lvcreate = "fail-after-create";
    });
    const e = await failure(take());
    expect(e.code).toBe("E_SNAPSHOT");
    expect(e.message).toBe(
      "cannot create a snapshot of vg0/pool: lvcreate failed with exit code 5: Aborting. Failed to activate snapshot exception store.",
    );
    expect(lvm.commands().slice(-2)).toEqual([listCommand, removeCommand]);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(lockFiles()).toEqual([]);
  });

  it.each([
    // All free space, which LVM cuts to the most a snapshot of 4 MiB can use: next time the same, 100%ORIGIN.
    [undefined, "100%ORIGIN"],
    ["1M", "2M"],
  ])("checkUsage reports a snapshot (size %s) that filled up, and what size to give next", async (size, next) => {
    const snapshot = await take({ size });
    await snapshot.checkUsage();
    lvm.update((s) => {
      s.simulate.fillUp = true;
    });
    lvm.clearCommands();
    const e = await failure(snapshot.checkUsage());
    expect(e.code).toBe("E_SNAPSHOT");
    const room = size === undefined ? "5.00 MiB" : "1.00 MiB";
    expect(e.message).toBe(
      `the snapshot vg0/${SNAP} filled up (${room} of changes to vg0/pool while it was read) and is invalid:` +
        ` what was read from it cannot be trusted; give --snapshot-size ${next} next time (with that much free space in vg0)`,
    );
    expect(lvm.commands()).toEqual([stateCommand]);
    await snapshot.remove();
    expect(lvm.lvs()).toEqual(["pool"]);
  });

  it("explain() turns a failed sync's error into E_SNAPSHOT when the snapshot filled up, and only then", async () => {
    const snapshot = await take();
    const readFailed = new BlockferryError("E_IO", "source: read failed: Input/output error at byte offset 0");
    expect(await snapshot.explain(readFailed)).toBe(readFailed);
    lvm.update((s) => {
      s.simulate.fillUp = true;
    });
    const explained = (await snapshot.explain(readFailed)) as BlockferryError;
    expect(explained.code).toBe("E_SNAPSHOT");
    expect(explained.message).toMatch(/^the snapshot vg0\/pool-blockferry-snap filled up \(5\.00 MiB of changes/);
    expect(explained.cause).toBe(readFailed);
    // When lvs cannot tell, the failure stands.
    const path = process.env.PATH;
    process.env.PATH = join(lvm.dir, "dev");
    try {
      expect(await snapshot.explain(readFailed)).toBe(readFailed);
    } finally {
      process.env.PATH = path;
    }
    await snapshot.remove();
  });

  it("tries lvremove again while the snapshot is in use, then keeps the lock, and remove() can be tried again", async () => {
    const snapshot = await take({ removeRetryDelaysMs: [10, 20] });
    lvm.update((s) => {
      s.simulate.lvremove = "in-use";
    });
    lvm.clearCommands();
    const e = await failure(snapshot.remove());
    expect(lvm.commands().filter((c) => c[0] === "lvremove")).toHaveLength(3);
    expect(logs.filter((l) => /^lvremove failed .*in use.*; trying again in 0\.0[12] s$/.test(l))).toHaveLength(2);
    expect(e.code).toBe("E_SNAPSHOT");
    expect(e.message).toBe(
      `cannot remove the snapshot vg0/${SNAP}: lvremove failed with exit code 5: Logical volume vg0/${SNAP} in use.`,
    );
    expect(lockFiles()).toEqual(["lvm-vg0-pool.lock"]);
    lvm.update((s) => {
      delete s.simulate.lvremove;
    });
    await snapshot.remove();
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(lockFiles()).toEqual([]);
  });

  it("remove() succeeds when the snapshot was already removed by hand", async () => {
    const snapshot = await take();
    lvm.run("lvremove", ["-f", `vg0/${SNAP}`]);
    lvm.clearCommands();
    await snapshot.remove();
    expect(lvm.commands()).toEqual([removeCommand, listCommand]);
    expect(lockFiles()).toEqual([]);
  });

  it("says which package to install when LVM's tools are missing", async () => {
    process.env.PATH = join(lvm.dir, "dev"); // no lvs there
    const e = await failure(take());
    expect(e.code).toBe("E_UNSUPPORTED");
    expect(e.message).toBe("lvs not found: install the lvm2 package");
  });
});

describe("names", () => {
  it("keeps snapshot names within LVM's 127 characters, distinct and stable", () => {
    const a = snapshotName(`${"a".repeat(120)}x`);
    const b = snapshotName(`${"a".repeat(120)}y`);
    expect(a).toHaveLength(127);
    expect(a).toMatch(/^a+-[0-9a-f]{8}-blockferry-snap$/);
    expect(a).not.toBe(b);
    expect(snapshotName(`${"a".repeat(120)}x`)).toBe(a);
    expect(snapshotName("a".repeat(111))).toBe(`${"a".repeat(111)}-blockferry-snap`);
  });

  it("doubles '-' in lock file names, as device-mapper does", () => {
    expect(lockFileName("vg0", "pool")).toBe("lvm-vg0-pool.lock");
    expect(lockFileName("vg-a", "b")).toBe("lvm-vg--a-b.lock");
    expect(lockFileName("vg", "a-b")).toBe("lvm-vg-a--b.lock");
  });

  it("maps --snapshot-size to lvcreate's arguments", () => {
    expect(snapshotSizeArgs(undefined)).toEqual(["-l", "100%FREE"]);
    expect(snapshotSizeArgs("20G")).toEqual(["-L", `${20 * 2 ** 30}b`]);
    expect(snapshotSizeArgs("1000")).toEqual(["-L", "1024b"]); // whole sectors
    expect(snapshotSizeArgs("100%origin")).toEqual(["-l", "100%ORIGIN"]);
    expect(snapshotSizeArgs("5%FREE")).toEqual(["-l", "5%FREE"]);
  });
});
