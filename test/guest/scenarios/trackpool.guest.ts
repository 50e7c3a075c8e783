/**
 * Change tracking measured as issue 19 asks, on the changes it is for: a
 * BackupPC pool in ext4 on a 2 GiB thin LV (about 98% of it mapped: the
 * rest of the filesystem is older backups, one big file, as on a pool in
 * use; a hash delta then reads real blocks, not unmapped ones), two destinations (thick LVs) synced once, then a night of backups
 * through the filesystem (new pool
 * files and their hard links, a few deletions and rewrites: about 1% of the
 * volume's 4 KiB blocks, scattered over inode tables, bitmaps, directories,
 * the journal and data). Destination A gets the change-tracked night, B a
 * --no-cache hash delta of the same change. Asserted: both byte-identical;
 * A reads at most 3% of the volume on the source and nothing on the target,
 * and sends no more than B. The wall-time ratio is printed, not asserted (the
 * guest is emulated); bench/RESULTS.md keeps the measured figures.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { addPoolFiles, nightOfBackups } from "../../helpers/backup-pool.js";
import { seededBytes, testSeed } from "../../helpers/random.js";
import { expectSameBytes, MiB, makeLv, makeThinLv, makeVg } from "../lib/lvm.js";
import { night, report } from "../lib/nights.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "trackpool";
const seed = testSeed("trackpool");
const SIZE = 2048 * MiB;
const origin = `/dev/${VG}/pool`;
const a = `/dev/${VG}/copya`;
const b = `/dev/${VG}/copyb`;
const mountPoint = "/run/trackpool";
/** The pool before the night: about 500 MB of files (1 to 49 KiB) and their links. */
const FILES = 20_000;
/** New files in the night: with their links and metadata, about 1% of the volume's 4 KiB blocks. */
const ADDED = 500;
/** Older backups: the filesystem's room left after the pool, minus some for the night. */
const OLDER = 1350 * MiB;

function mounted(work: (root: string) => void): void {
  s.sh("mount", origin, mountPoint);
  try {
    work(mountPoint);
  } finally {
    s.sh("umount", mountPoint);
  }
}

/** A file of `bytes` seeded bytes, 64 MiB at a time. */
function writeSeededFile(path: string, bytes: number, fileSeed: number): void {
  const fd = openSync(path, "w");
  try {
    for (let at = 0; at < bytes; at += 64 * MiB) {
      const piece = Math.min(64 * MiB, bytes - at);
      writeSync(fd, seededBytes(piece, fileSeed + at / MiB), 0, piece, at);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  makeVg(s, VG);
  makeThinLv(s, VG, "thinpool", "pool", 2200, 2048);
  makeLv(s, VG, "copya", 2048);
  makeLv(s, VG, "copyb", 2048);
  // Inode tables and journal written now, not by ext4's lazy init in the background during the night.
  s.sh("mkfs.ext4", "-q", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0", origin);
  mkdirSync(mountPoint, { recursive: true });
  mounted((root) => {
    addPoolFiles(root, 0, FILES, seed);
    writeSeededFile(join(root, "older-backups"), OLDER, seed + 2);
  });
}, 1_800_000);

it("a night of backups through ext4: the change-tracked night reads ≤ 3% on the source, nothing on the target", async () => {
  await night(s, origin, a);
  await night(s, origin, b);
  mounted((root) => nightOfBackups(root, FILES, ADDED, seed + 1));

  const tracked = await night(s, origin, a);
  const hashed = await night(s, origin, b, "--no-cache");
  expectSameBytes(s, a, origin);
  expectSameBytes(s, b, origin);

  const t = tracked.summary;
  const h = hashed.summary;
  expect(t.changesFoundBy).toBe("thin_delta");
  expect(h.changesFoundBy).toBe("target digests");
  // The change is what the issue names: about 1% of the 4 KiB blocks (those the hash delta sent).
  const changedShare = h.blocks.changed / (SIZE / 4096);
  expect(changedShare).toBeGreaterThan(0.005);
  expect(changedShare).toBeLessThan(0.02);
  expect(t.bytes.read / SIZE).toBeLessThanOrEqual(0.03);
  expect(t.bytes.targetRead).toBe(0);
  expect(t.bytes.wire).toBeLessThanOrEqual(h.bytes.wire);
  expect(h.bytes.read).toBe(SIZE);
  // Mapped as a pool in use is (unmapped thin chunks read as zeros and would flatter the hash delta).
  const originMappedPercent = Number(s.sh("lvs", "--noheadings", "-o", "data_percent", origin).trim());
  expect(originMappedPercent).toBeGreaterThanOrEqual(95);
  const figures = {
    originMappedPercent,
    changedShare,
    sourceReadShare: t.bytes.read / SIZE,
    wireTracked: t.bytes.wire,
    wireHashDelta: h.bytes.wire,
    diffSeconds: t.diffSeconds,
    wallTracked: tracked.wall,
    wallHashDelta: hashed.wall,
    wallRatio: tracked.wall / hashed.wall,
    summarySecondsTracked: t.seconds,
    summarySecondsHashDelta: h.seconds,
  };
  report(s, "trackpool", figures, { tracked, "hash delta": hashed });
}, 3_600_000);
