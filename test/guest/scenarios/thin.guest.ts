/**
 * A thin LV as the origin: its snapshot is a thin snapshot (no size of its
 * own, its room in the pool), read-only, activated despite LVM's activation
 * skip flag, and kept afterwards as the base of the next run's change
 * tracking (one per destination). A --snapshot-size is refused before
 * anything is created (with one, lvcreate would make a classic snapshot).
 * The VG has no free extents left: a thin snapshot needs none.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import {
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

/** The LVs of the VG, our base snapshot's name made generic. */
function names(): string[] {
  return lvNames(s, VG).map((n) => n.replace(/-bfbase-[0-9a-f]{8}$/, "-bfbase-HASH"));
}

it("copies a thin LV from a thin snapshot, activated for the copy and kept as the base after it", () => {
  const recorder = snapshotRecorder(s, VG, "data");
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", ...recorder.flags, origin, image, "--create"]);
  expect(r.code, r.stderr).toBe(0);
  // V: thin volume, r: read-only, a: active; of the thin origin, in its pool, tagged.
  expect(recorder.seen()).toMatchObject({ origin: "data", segtype: "thin", active: true, tags: ["blockferry"] });
  expect(recorder.seen().attr.slice(0, 5)).toBe("Vri-a");
  expect(r.stderr).toContain(`a thin snapshot, its changes in the pool ${VG}/pool`);
  expectSameBytes(s, image, origin);
  expect(names()).toEqual(["data", "data-bfbase-HASH", "filler", "pool"]);
});

it("sends only what changed on the next run, found by thin_delta", () => {
  writeSeeded(s, origin, 2 * MiB, 128 * 1024, seed + 1);
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", origin, image]);
  expect(r.code, r.stderr).toBe(0);
  const summary = JSON.parse(r.stdout);
  expect(summary).toMatchObject({ mode: "delta", blocks: { changed: 2 }, changesFoundBy: "thin_delta" });
  expect(summary.bytes.read).toBe(128 * 1024);
  expectSameBytes(s, image, origin);
  expect(names()).toEqual(["data", "data-bfbase-HASH", "filler", "pool"]);
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
  expect(names()).toEqual(["data", "data-bfbase-HASH", "filler", "pool"]);
});
