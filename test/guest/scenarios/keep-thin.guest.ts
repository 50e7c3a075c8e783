/**
 * --keep-good lvm on a thin standby LV: its good copy is a thin snapshot
 * (no size; its room is in the pool), merged back by promote. The story is
 * in ../lib/keep-good.ts.
 */
import { beforeAll } from "vitest";
import { standbyIn, standbyScenarios } from "../lib/keep-good.js";
import { makeThinLv, makeVg } from "../lib/lvm.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const vg = "kthin";
const t = standbyIn(s, vg, []);

beforeAll(() => {
  makeVg(s, vg);
  makeThinLv(s, vg, "pool", "standby", 96, 16);
  s.sh("lvcreate", "-y", "-W", "n", "-V", "16M", "--thin", `${vg}/pool`, "-n", "data");
});

standbyScenarios(t);
