/**
 * A source that grew: the target checks that its image can grow that far
 * without touching the image, so a sync that stops before its first save (a
 * dry run here) leaves the copy as its record describes it, not "written since".
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { changeStamp } from "../../src/job/identity.js";
import { copyInProcess, fulfilled, MemoryStateStore, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

it("a dry run after the source grew leaves the target's stamp as recorded; the next sync takes it", async () => {
  const source = join(scratch.dir, "grow-src.img");
  const target = join(scratch.dir, "grow-dst.img");
  writeMixedImage(source, 4 << 20, 41);
  const state = new MemoryStateStore();
  fulfilled((await copyInProcess({ source, target, state })).target);
  const recorded = state.last?.stamp;
  expect(recorded).toBe(await changeStamp(target));
  truncateSync(source, 6 << 20);
  fulfilled((await copyInProcess({ source, target, state, source_: { dryRun: true } })).target);
  expect(await changeStamp(target)).toBe(recorded);
  // No probe file left beside it.
  expect(readdirSync(scratch.dir).filter((n) => n.includes("grow-probe"))).toEqual([]);
  fulfilled((await copyInProcess({ source, target, state })).target);
  expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
});

it("through a symlink, the probe is made beside the real image, and a probe a killed receiver left is removed", async () => {
  const source = join(scratch.dir, "link-src.img");
  const real = join(scratch.dir, "real", "link-dst.img");
  const link = join(scratch.dir, "link-dst.img");
  mkdirSync(join(scratch.dir, "real"));
  writeMixedImage(source, 4 << 20, 43);
  const state = new MemoryStateStore();
  fulfilled((await copyInProcess({ source, target: real, state })).target);
  symlinkSync(real, link);
  const left = `${real}.blockferry-grow-probe.0123456789ab`;
  writeFileSync(left, "");
  truncateSync(source, 6 << 20);
  fulfilled((await copyInProcess({ source, target: link, state })).target);
  expect(readFileSync(real).equals(readFileSync(source))).toBe(true);
  expect(readdirSync(join(scratch.dir, "real")).sort()).toEqual(["link-dst.img"]);
  expect(readdirSync(scratch.dir).filter((n) => n.includes("grow-probe"))).toEqual([]);
});
