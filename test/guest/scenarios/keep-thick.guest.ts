/**
 * --keep-good lvm on a thick standby LV: its good copy is a classic
 * snapshot, merged back by promote (the story is in ../lib/keep-good.ts).
 * Then a snapshot too small for the night (the default 20%ORIGIN, 8 MiB
 * here, while all 16 MiB change): it fills up and is invalid; a
 * killed sync's status says the kept copy is LOST (exit 18), promote refuses
 * it, the next sync records it (lostGood); a sync that completes all the
 * same says so too.
 */
import { readFileSync } from "node:fs";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import {
  EXIT,
  expectNoGood,
  goodLv,
  killedSync,
  standbyIn,
  standbyScenarios,
  stateOf,
  status,
} from "../lib/keep-good.js";
import { MiB, makeLv, makeVg, writeSeeded } from "../lib/lvm.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const vg = "kthick";
const t = standbyIn(s, vg, ["--keep-good-size", "100%ORIGIN"]);

beforeAll(() => {
  makeVg(s, vg);
  makeLv(s, vg, "data", 16);
  makeLv(s, vg, "standby", 16);
});

standbyScenarios(t);

const small = { ...t, keepFlags: [] }; // the default size
const seed = testSeed("keep-good overflow");

it("a classic good snapshot that fills up during a killed sync: status says LOST (exit 18), promote refuses, the next sync records it", async () => {
  writeSeeded(s, t.data, 0, 16 * MiB, seed); // every block changes: more than the snapshot holds
  await killedSync(small, 12 * MiB);
  const good = goodLv(t);
  // 20%ORIGIN of the most a snapshot of 16 MiB can use, in whole extents: 8 MiB.
  expect(good).toMatchObject({ origin: "standby", tags: ["blockferry-good"], size: 8 * MiB });
  expect(good?.attr[4]).toBe("I"); // invalid: the kernel dropped it
  const st = status(t);
  expect(st.code).toBe(EXIT.incomplete);
  expect(st.text).toMatch(
    /kept good copy: generation \d+.*LOST: its snapshot kthick\/standby-blockferry-good filled up/,
  );
  const held = readFileSync(t.standby);
  const p = s.bf(["promote", "--state-dir", t.stateDir, t.standby]);
  expect(p.code, p.stderr).toBe(EXIT.snapshot);
  expect(p.stderr).toMatch(/the kept good copy is lost: .*filled up .*give --keep-good-size/);
  expect(readFileSync(t.standby).equals(held)).toBe(true);
  const next = s.bf(["sync", "--state-dir", t.stateDir, "--keep-good", "lvm", t.data, t.standby]);
  expect(next.code, next.stderr).toBe(EXIT.ok);
  expect(next.stderr).toMatch(/WARNING: .*standby-blockferry-good .* is LOST: its snapshot .* filled up/);
  expect(stateOf(t)).toMatchObject({ complete: true, lostGood: { why: expect.stringMatching(/filled up/) } });
  expect(status(t).text).toMatch(/LOST a kept good copy at .*filled up/);
  expect(readFileSync(t.standby).equals(readFileSync(t.data))).toBe(true);
  expectNoGood(t);
});

it("a sync that completes after its good snapshot filled up says so and records it", () => {
  const before = (stateOf(t).lostGood as { at: string }).at;
  writeSeeded(s, t.data, 0, 16 * MiB, seed + 1);
  const r = s.bf(["sync", "--state-dir", t.stateDir, "--keep-good", "lvm", t.data, t.standby]);
  expect(r.code, r.stderr).toBe(EXIT.ok);
  expect(r.stderr).toMatch(
    /WARNING: .*standby-blockferry-good .* was LOST during this sync: .*filled up .*--keep-good-size/,
  );
  const state = stateOf(t) as { complete: boolean; lostGood: { at: string } };
  expect(state.complete).toBe(true);
  expect(state.lostGood.at > before).toBe(true);
  expect(readFileSync(t.standby).equals(readFileSync(t.data))).toBe(true);
  expectNoGood(t);
});
