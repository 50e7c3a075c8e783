/**
 * Refusals on real devices, each leaving the LVs as they were and writing no
 * target: an origin mounted read-write copied without a snapshot (E_BUSY,
 * unless --allow-live; with --snapshot lvm it is the normal case), a volume
 * group with no free space for a classic snapshot, an origin that is itself a
 * snapshot, a source that is no LV, and an LV of the snapshot's name that is
 * not blockferry's.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { expectNoSnapshot, expectSameBytes, lvNames, makeLv, makeVg } from "../lib/lvm.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "refusals";
const origin = `/dev/${VG}/data`;
const mountPoint = join(s.dir, "mnt");
let target = 0;
/** A target path no earlier run used. */
const newTarget = () => join(s.dir, `copy${++target}.img`);

beforeAll(() => {
  makeVg(s, VG);
  makeLv(s, VG, "data", 16);
  // Inode tables and journal written now, not by a kernel thread while the copy runs.
  s.sh("mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", origin);
  mkdirSync(mountPoint);
  s.sh("mount", origin, mountPoint);
  writeFileSync(join(mountPoint, "hello.txt"), "hello\n");
  s.sh("sync");
});

afterAll(() => {
  s.run("umount", [mountPoint]);
});

it("refuses to copy a mounted origin without a snapshot, unless --allow-live; with --snapshot lvm it copies", () => {
  const refused = newTarget();
  const r = s.bf(["sync", origin, refused, "--create"]);
  expect(r.code, r.stderr).toBe(5);
  expect(r.stderr).toContain(`${origin} is mounted read-write at ${mountPoint}: its blocks would change`);
  expect(existsSync(refused)).toBe(false);

  const live = newTarget();
  const allowed = s.bf(["sync", "--allow-live", origin, live, "--create"]);
  expect(allowed.code, allowed.stderr).toBe(0);
  expect(allowed.stderr).toContain(`WARNING: ${origin} is mounted read-write at ${mountPoint}: copying it live`);
  expectSameBytes(s, live, origin);

  // The snapshot froze the filesystem: it holds a clean ext4, which the origin (mounted, with
  // its journal in use) no longer matches byte for byte. The post hook keeps what the snapshot held.
  const snapped = newTarget();
  const held = join(s.dir, "snapshot-bytes");
  const keep = `dd if=/dev/${VG}/data-blockferry-snap of=${held} bs=1M status=none`;
  const fromSnapshot = s.bf(["sync", "--snapshot", "lvm", "--post-snapshot", keep, origin, snapped, "--create"]);
  expect(fromSnapshot.code, fromSnapshot.stderr).toBe(0);
  expect(fromSnapshot.stderr).not.toContain("WARNING");
  expectSameBytes(s, snapped, held);
  expect(s.run("e2fsck", ["-f", "-n", snapped]).code).toBe(0);
  expectNoSnapshot(s, VG);
});

it("refuses a volume group without free space for the snapshot", ({ onTestFinished }) => {
  s.sh("lvcreate", "-y", "-W", "n", "-l", "100%FREE", "-n", "filler", VG);
  onTestFinished(() => void s.sh("lvremove", "-y", `${VG}/filler`));
  const refused = newTarget();
  const r = s.bf(["sync", "--snapshot", "lvm", origin, refused, "--create"]);
  expect(r.code, r.stderr).toBe(16);
  expect(r.stderr).toContain(
    `cannot create a snapshot of ${VG}/data: the volume group ${VG} has no free space, where a snapshot keeps the blocks` +
      " that change while it is read; free some or add a disk to it (vgextend)",
  );
  expect(r.stderr).not.toContain("lvcreate");
  expect(existsSync(refused)).toBe(false);
  expect(lvNames(s, VG)).toEqual(["data", "filler"]);
});

it("refuses an origin that is itself a snapshot", ({ onTestFinished }) => {
  s.sh("lvcreate", "-y", "--snapshot", "-L", "8M", "-n", "manual", `${VG}/data`);
  onTestFinished(() => void s.sh("lvremove", "-y", `${VG}/manual`));
  const refused = newTarget();
  const r = s.bf(["sync", "--snapshot", "lvm", `/dev/${VG}/manual`, refused, "--create"]);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toContain(`that is not a snapshot, got "/dev/${VG}/manual", a snapshot of ${VG}/data`);
  expect(existsSync(refused)).toBe(false);
  expect(lvNames(s, VG)).toEqual(["data", "manual"]);
});

it("refuses a source that is no LV (here the disk under the VG)", () => {
  const refused = newTarget();
  const r = s.bf(["sync", "--snapshot", "lvm", s.disk, refused, "--create"]);
  expect(r.code, r.stderr).toBe(16);
  const vg = s.disk.replace("/dev/", "");
  expect(r.stderr).toContain(
    `source: expected an LVM logical volume (/dev/VG/LV, /dev/mapper/VG-LV or VG/LV), got "${s.disk}":` +
      ` lvs failed with exit code 5: Volume group "${vg}" not found; Cannot process volume group ${vg}`,
  );
  expect(existsSync(refused)).toBe(false);
  expect(lvNames(s, VG)).toEqual(["data"]);
});

it("never touches an LV of the snapshot's name that blockferry did not make", () => {
  makeLv(s, VG, "data-blockferry-snap", 4);
  const refused = newTarget();
  const r = s.bf(["sync", "--snapshot", "lvm", origin, refused, "--create"]);
  expect(r.code, r.stderr).toBe(16);
  expect(r.stderr).toContain(
    `${VG}/data-blockferry-snap exists but is not ours (not a snapshot of data tagged blockferry): not touching it`,
  );
  expect(existsSync(refused)).toBe(false);
  expect(lvNames(s, VG)).toEqual(["data", "data-blockferry-snap"]);
});
