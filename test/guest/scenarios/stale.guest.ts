/**
 * Snapshots left behind, held open, interrupted, on real LVM: blockferry
 * killed with SIGKILL between lvcreate and lvremove leaves its snapshot and
 * its lock; the next run takes the lock over, removes that snapshot and
 * syncs. lvremove refused while something holds the snapshot open ("in use")
 * is tried again until it succeeds. SIGTERM during the copy: exit 130, the
 * snapshot removed, the target not complete. On the way, --snapshot-size in
 * shares of the free space and of the VG.
 */
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import {
  expectNoSnapshot,
  expectSameBytes,
  lvsOf,
  MiB,
  makeLv,
  makeVg,
  snapshotRecorder,
  writeSeeded,
} from "../lib/lvm.js";
import { type Started, scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "stale";
const seed = testSeed("stale");
const origin = `/dev/${VG}/data`;
const snapshot = `${VG}/data-blockferry-snap`;
const lockFile = `/run/blockferry/lvm-${VG}-data.lock`;
const image = join(s.dir, "copy.img");

beforeAll(() => {
  makeVg(s, VG);
  makeLv(s, VG, "data", 16);
  writeSeeded(s, origin, 0, 16 * MiB, seed);
});

/** Resolves once `child` has written a line matching `pattern` to stderr. */
function saying(child: Started, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let said = "";
    child.stderr?.on("data", (d: Buffer) => {
      said += d.toString();
      if (pattern.test(said)) resolve();
    });
    child.once("exit", (code, signal) => reject(new Error(`exited (${code ?? signal}) before ${pattern}: ${said}`)));
  });
}

it("after a run killed between lvcreate and lvremove, the next run removes its snapshot and syncs", async () => {
  // Slowed down, so that it is still copying when killed.
  const run = s.bfStart(["sync", "--snapshot", "lvm", "--bwlimit", "1M", origin, image, "--create"]);
  await saying(run, /read from \/dev\/stale\/data-blockferry-snap/);
  run.kill("SIGKILL");
  expect((await run.output()).signal).toBe("SIGKILL");
  // Left behind, as by a power cut: the snapshot and the lock of a process that is gone.
  expect(lvsOf(s, VG).find((lv) => lv.name === "data-blockferry-snap")).toMatchObject({
    origin: "data",
    tags: ["blockferry"],
  });
  expect(readFileSync(lockFile, "utf8")).toBe(`${run.pid}\n`);

  const recorder = snapshotRecorder(s, VG, "data");
  const size = ["--snapshot-size", "1%FREE"];
  const next = s.bf(["sync", "--snapshot", "lvm", ...size, ...recorder.flags, origin, image, "--create"]);
  expect(next.code, next.stderr).toBe(0);
  // 1% of 2 GiB, cut by lvm2 to the most a snapshot of 16 MiB can use.
  expect(recorder.seen()).toMatchObject({ size: 20 * MiB });
  expect(next.stderr).toContain(`held by pid ${run.pid}, which no longer runs`);
  expect(next.stderr).toContain(`warning: removing the snapshot ${snapshot}, left behind by a run that did not finish`);
  expectSameBytes(s, image, origin);
  expectNoSnapshot(s, VG);
  expect(existsSync(lockFile)).toBe(false);
});

it("tries lvremove again while something holds the snapshot open", async () => {
  writeSeeded(s, origin, MiB, MiB, seed + 1);
  const recorder = snapshotRecorder(s, VG, "data");
  const size = ["--snapshot-size", "1%VG"];
  const run = s.bfStart(["sync", "--snapshot", "lvm", ...size, ...recorder.flags, "--bwlimit", "4M", origin, image]);
  await saying(run, /read from \/dev\/stale\/data-blockferry-snap/);
  // As udev's blkid or a backup agent might, until blockferry is done with it.
  const fd = openSync(`/dev/${snapshot}`, "r");
  await saying(run, /lvremove failed \(/).finally(() => closeSync(fd));
  const r = await run.output();
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain(
    `lvremove failed (lvremove failed with exit code 5: Logical volume ${snapshot} in use.); trying again in 0.5 s`,
  );
  expect(recorder.seen()).toMatchObject({ size: 20 * MiB });
  expectSameBytes(s, image, origin);
  expectNoSnapshot(s, VG);
});

it("on SIGTERM during the copy, stops, removes the snapshot and exits 130; the target is not complete", async () => {
  const target = join(s.dir, "interrupted.img");
  const run = s.bfStart(["sync", "--snapshot", "lvm", "--bwlimit", "1M", origin, target, "--create"]);
  // Once the target has recorded that its copy is under way (before its first write).
  while (!existsSync(`${target}.blockferry-state.json`)) await sleep(50);
  run.kill("SIGTERM");
  const r = await run.output();
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toContain(`$ lvremove -f ${snapshot}`);
  expectNoSnapshot(s, VG);
  expect(existsSync(lockFile)).toBe(false);
  expect(s.bf(["status", target]).code).toBe(18);
});
