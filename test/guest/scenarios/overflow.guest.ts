/**
 * A classic snapshot that overflows for real: a small --snapshot-size while a
 * writer keeps rewriting the origin during the copy. The kernel invalidates
 * the snapshot (every read of it fails from then on); blockferry exits 16
 * (E_SNAPSHOT) saying what size to give, the target is not marked complete,
 * and the snapshot is removed. With the size it suggests, the next run copies.
 */
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import { expectNoSnapshot, expectSameBytes, lvNames, MiB, makeLv, makeVg, writeSeeded } from "../lib/lvm.js";
import { type Started, scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "overflow";
const seed = testSeed("overflow");
const origin = `/dev/${VG}/data`;
const image = join(s.dir, "copy.img");
let writer: Started | undefined;

beforeAll(() => {
  makeVg(s, VG);
  makeLv(s, VG, "data", 16);
  writeSeeded(s, origin, 0, 16 * MiB, seed);
});

afterAll(async () => {
  writer?.kill("SIGKILL");
  await writer?.output();
});

it("fails with E_SNAPSHOT when the snapshot fills up during the copy, leaving the target incomplete", async () => {
  // Rewrites the origin, 1 MiB at a time, until stopped: 4 MiB of changes fill the snapshot.
  writer = s.start("sh", [
    "-c",
    `while :; do dd if=/dev/urandom of=${origin} bs=1M count=16 oflag=direct conv=notrunc status=none || exit; done`,
  ]);
  // At most 2 MB/s: the copy takes 8 s or more, during which the writer goes on.
  const r = s.bf(["sync", "--snapshot", "lvm", "--snapshot-size", "4M", "--bwlimit", "2M", origin, image, "--create"]);
  writer.kill("SIGKILL");
  await writer.output();
  expect(r.code, r.stderr).toBe(16);
  expect(r.stderr).toContain(
    `the snapshot ${VG}/data-blockferry-snap filled up (4.00 MiB of changes to ${VG}/data while it was read) and is invalid:` +
      " what was read from it cannot be trusted; give --snapshot-size 8M next time",
  );
  expectNoSnapshot(s, VG);
  const status = s.bf(["status", "--json", image]);
  expect(status.code, status.stderr).toBe(18);
  expect(JSON.parse(status.stdout)).toMatchObject({ complete: false });
});

it("copies with a snapshot as large as the origin (100%ORIGIN), which cannot fill up", () => {
  const r = s.bf(["sync", "--snapshot", "lvm", "--snapshot-size", "100%ORIGIN", origin, image]);
  expect(r.code, r.stderr).toBe(0);
  expectSameBytes(s, image, origin);
  expectNoSnapshot(s, VG);
  expect(lvNames(s, VG)).toEqual(["data"]);
});
