/**
 * `sync --snapshot lvm` from a thick LV, through a classic copy-on-write
 * snapshot: to an image file and to another LV (the secondary's side), then
 * deltas after the origin changed. The snapshot is read-only, tagged, of the
 * size asked for; each copy equals the origin byte for byte; each run leaves
 * no snapshot behind.
 */
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import {
  expectNoSnapshot,
  expectSameBytes,
  lvNames,
  MiB,
  makeLv,
  makeVg,
  snapshotRecorder,
  vgFree,
  writeSeeded,
} from "../lib/lvm.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "thick";
const seed = testSeed("thick");
const origin = `/dev/${VG}/data`;
const copyLv = `/dev/${VG}/copy`;
const image = join(s.dir, "copy.img");

beforeAll(() => {
  makeVg(s, VG);
  makeLv(s, VG, "data", 16);
  makeLv(s, VG, "copy", 16);
  // Data with a run of zeros in the middle, as a filesystem has.
  writeSeeded(s, origin, 0, 6 * MiB, seed);
  writeSeeded(s, origin, 10 * MiB, 6 * MiB, seed + 1);
});

/** One sync from a snapshot of the origin; its JSON summary and the snapshot as LVM showed it. */
function sync(dest: string, extra: string[] = [], source = origin) {
  const recorder = snapshotRecorder(s, VG, "data");
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", ...recorder.flags, ...extra, source, dest]);
  expect(r.code, r.stderr).toBe(0);
  expectNoSnapshot(s, VG);
  return { summary: JSON.parse(r.stdout), snapshot: recorder.seen() };
}

it("copies a thick LV from a read-only snapshot to an image file and to another LV, then only what changed", () => {
  // Without --snapshot-size: all free extents of the VG (here 2 GiB), which lvm2 cuts down to the
  // most a classic snapshot can use (the origin and its exception table, in whole 4 MiB extents).
  expect(vgFree(s, VG)).toBeGreaterThan(1024 * MiB);
  const toImage = sync(image, ["--create"]);
  expect(toImage.summary).toMatchObject({ ok: true, mode: "copy", snapshot: `${VG}/data-blockferry-snap` });
  expect(toImage.snapshot).toMatchObject({ origin: "data", tags: ["blockferry"], size: 20 * MiB, active: true });
  // A classic snapshot (s), read-only (r).
  expect(toImage.snapshot.attr.slice(0, 2)).toBe("sr");
  expectSameBytes(s, image, origin);

  // A block device target is compared first (here with the fresh LV's zeros).
  const toLv = sync(copyLv, ["--snapshot-size", "8M"]);
  expect(toLv.summary).toMatchObject({ ok: true, snapshot: `${VG}/data-blockferry-snap` });
  expect(toLv.snapshot).toMatchObject({ size: 8 * MiB });
  expectSameBytes(s, copyLv, origin);

  // 1 MiB rewritten in the data, 256 KiB written into the zeros: 16 + 4 blocks of 64 KiB.
  writeSeeded(s, origin, 3 * MiB, MiB, seed + 2);
  writeSeeded(s, origin, 8 * MiB, 256 * 1024, seed + 3);
  // The origin named as VG/LV and as /dev/mapper/VG-LV: the same origin, so the digest cache serves.
  for (const [dest, source] of [
    [image, `${VG}/data`],
    [copyLv, `/dev/mapper/${VG}-data`],
  ] as const) {
    const delta = sync(dest, ["--snapshot-size", "50%ORIGIN"], source);
    expect(delta.summary).toMatchObject({ ok: true, mode: "delta", digestsFrom: "cache", blocks: { changed: 16 + 4 } });
    // lvm2 takes N%ORIGIN of that most a snapshot can use (20 MiB), rounded up to whole extents.
    expect(delta.snapshot).toMatchObject({ size: 12 * MiB });
    expectSameBytes(s, dest, origin);
  }
  expect(lvNames(s, VG)).toEqual(["copy", "data"]);
});
