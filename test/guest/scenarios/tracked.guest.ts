/**
 * Change tracking on a 1 GiB thin LV: two destinations (thick LVs) get a
 * first copy, the origin then takes ~1% of its 4 KiB blocks rewritten at
 * scattered places (a tenth with the same bytes) and a few chunks discarded;
 * destination A gets the change-tracked night (thin_delta), destination B a
 * --no-cache hash delta of the same change. Both end byte-identical; A reads
 * only the changed chunks on the source, nothing on the target, and sends no
 * more than B. The ratios are printed (wall times are not asserted: the guest
 * is emulated). Long under emulation: BLOCKFERRY_GUEST_TIMEOUT=3600.
 */
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import { expectSameBytes, fillSeeded, lvNames, MiB, makeLv, makeThinLv, makeVg, scatterThin } from "../lib/lvm.js";
import { night, report } from "../lib/nights.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "tracked";
const seed = testSeed("tracked");
const SIZE = 1024 * MiB;
const origin = `/dev/${VG}/data`;
const a = `/dev/${VG}/copya`;
const b = `/dev/${VG}/copyb`;

function sync(dest: string, ...extra: string[]) {
  return night(s, origin, dest, ...extra);
}

beforeAll(() => {
  makeVg(s, VG);
  makeThinLv(s, VG, "pool", "data", 1280, 1024);
  makeLv(s, VG, "copya", 1024);
  makeLv(s, VG, "copyb", 1024);
  fillSeeded(s, origin, SIZE, seed);
}, 900_000);

it("change-tracked night: reads only the changed chunks, nothing on the target, byte-identical", async () => {
  const firstA = await sync(a);
  // A first copy into an LV compares with what the LV holds (zeros here).
  expect(firstA.summary.changesFoundBy).toBe("target digests");
  expect(firstA.stderr).toMatch(/change tracking not used: no base snapshot/);
  expect(firstA.summary.keptSnapshot).toMatch(/^tracked\/data-bfbase-[0-9a-f]{8}$/);
  const firstB = await sync(b);
  expect(firstB.summary.keptSnapshot).toMatch(/^tracked\/data-bfbase-[0-9a-f]{8}$/);
  // One base per destination, and nothing else left.
  const bases = lvNames(s, VG).filter((n) => n.includes("-bfbase-"));
  expect(bases).toHaveLength(2);
  expect(lvNames(s, VG).filter((n) => n.includes("blockferry-snap"))).toEqual([]);

  // ~1% of the 4 KiB blocks, scattered; 8 chunks discarded.
  const change = scatterThin(s, origin, SIZE, Math.round(SIZE / 4096 / 100), 8, seed + 1);
  const tracked = await sync(a);
  const hashed = await sync(b, "--no-cache");
  expectSameBytes(s, a, origin);
  expectSameBytes(s, b, origin);

  const t = tracked.summary;
  expect(t.changesFoundBy).toBe("thin_delta");
  expect(hashed.summary.changesFoundBy).toBe("target digests");
  expect(hashed.stderr).toMatch(/change tracking not used: the digest cache is not read \(--no-cache or --paranoid\)/);
  // Every chunk written is read whole (16 blocks of 4 KiB); discarded ones are not read.
  expect(t.bytes.read).toBe(change.written.size * 65536);
  expect(t.bytes.targetRead).toBe(0);
  expect(t.bytes.wire).toBeLessThanOrEqual(hashed.summary.bytes.wire);
  expect(hashed.summary.bytes.read).toBe(SIZE);
  // Each target was told how the changes were found, and recorded it.
  const lastSync = (dest: string) => JSON.parse(s.bf(["status", "--json", dest]).stdout).lastSync;
  expect(lastSync(a)).toMatchObject({ mode: "cached", tracked: true });
  expect(lastSync(b).mode).toBe("compare");
  expect(lastSync(b).tracked).toBeUndefined();
  // The base moved on: still one per destination.
  expect(lvNames(s, VG).filter((n) => n.includes("-bfbase-"))).toEqual(bases);
  const figures = {
    writes: Math.round(SIZE / 4096 / 100),
    chunksWritten: change.written.size,
    sourceReadShare: t.bytes.read / SIZE,
    wireTracked: t.bytes.wire,
    wireHashDelta: hashed.summary.bytes.wire,
    diffSeconds: t.diffSeconds,
    wallTracked: tracked.wall,
    wallHashDelta: hashed.wall,
    wallRatio: tracked.wall / hashed.wall,
    summarySecondsTracked: t.seconds,
    summarySecondsHashDelta: hashed.summary.seconds,
  };
  report(s, "tracked", figures, { tracked, "hash delta": hashed });
}, 1_800_000);
