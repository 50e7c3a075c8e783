/**
 * A thin LV as the origin: its snapshot is a thin snapshot (no size of its
 * own, its room in the pool), read-only, activated despite LVM's activation
 * skip flag, and removed afterwards. A --snapshot-size is refused before
 * anything is created (with one, lvcreate would make a classic snapshot).
 * The VG has no free extents left: a thin snapshot needs none.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import {
  expectNoSnapshot,
  expectSameBytes,
  lvNames,
  MiB,
  makeThinLv,
  makeVg,
  snapshotRecorder,
  vgFree,
  writeSeeded,
} from "../lib/lvm.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "thin";
const seed = testSeed("thin");
const origin = `/dev/${VG}/data`;
const image = join(s.dir, "copy.img");

beforeAll(() => {
  makeVg(s, VG);
  makeThinLv(s, VG, "pool", "data", 64, 16);
  // Every block written: the thin snapshot reports 100% of itself mapped, which is no overflow.
  writeSeeded(s, origin, 0, 16 * MiB, seed);
  s.sh("lvcreate", "-y", "-W", "n", "-l", "100%FREE", "-n", "filler", VG);
  expect(vgFree(s, VG)).toBe(0);
});

it("copies a thin LV from a thin snapshot, activated for the copy and removed after it", () => {
  const recorder = snapshotRecorder(s, VG, "data");
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", ...recorder.flags, origin, image, "--create"]);
  expect(r.code, r.stderr).toBe(0);
  // V: thin volume, r: read-only, a: active; of the thin origin, in its pool, tagged.
  expect(recorder.seen()).toMatchObject({ origin: "data", segtype: "thin", active: true, tags: ["blockferry"] });
  expect(recorder.seen().attr.slice(0, 5)).toBe("Vri-a");
  expect(r.stderr).toContain(`a thin snapshot, its changes in the pool ${VG}/pool`);
  expectSameBytes(s, image, origin);
  expectNoSnapshot(s, VG);
  expect(lvNames(s, VG)).toEqual(["data", "filler", "pool"]);
});

it("sends only what changed on the next run", () => {
  writeSeeded(s, origin, 2 * MiB, 128 * 1024, seed + 1);
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", origin, image]);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ mode: "delta", blocks: { changed: 2 } });
  expectSameBytes(s, image, origin);
  expectNoSnapshot(s, VG);
});

it("refuses a --snapshot-size for a thin origin before creating anything", () => {
  const target = join(s.dir, "never.img");
  const r = s.bf(["sync", "--snapshot", "lvm", "--snapshot-size", "8M", origin, target, "--create"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(
    `--snapshot-size: expected no size: ${VG}/data is a thin volume, whose snapshot takes its room in the pool ${VG}/pool, got "8M"`,
  );
  expect(r.stderr).not.toContain("lvcreate");
  expect(existsSync(target)).toBe(false);
  expect(lvNames(s, VG)).toEqual(["data", "filler", "pool"]);
});
