/**
 * --keep-good at the end of a verified sync: the preserved copy is removed
 * only once the volume is on record as complete, so a receiver killed while
 * removing it still leaves a verified copy. The kill is taken at the one
 * instant that matters: the record as saved when the copy is already gone.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TargetState } from "../../src/engine/state.js";
import type { GoodCopyKeeper } from "../../src/engine/target-types.js";
import { copyInProcess, fulfilled, MemoryStateStore, scatter, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const SIZE = 8 * 1024 * 1024;

/** A plain copy beside the image; `onDrop` runs once it is removed. */
function copyKeeper(image: string, onDrop: () => void = () => {}): GoodCopyKeeper {
  const where = `${image}.good`;
  return {
    method: "reflink",
    async preserve() {
      copyFileSync(image, where);
      return where;
    },
    async drop(at) {
      rmSync(at, { force: true });
      onDrop();
    },
    async lost(at) {
      return existsSync(at) ? "" : "gone";
    },
  };
}

/** A first sync, the source changed, and a second with a keeper: the record saved when its copy was gone. */
async function killedWhileDropping(name: string, afterDrop: (target: string) => void = () => {}) {
  const source = join(scratch.dir, `${name}-src.img`);
  const target = join(scratch.dir, `${name}-dst.img`);
  writeMixedImage(source, SIZE, 7);
  const state = new MemoryStateStore();
  fulfilled((await copyInProcess({ source, target, state })).target);
  scatter(source, 20, 8);
  let atKill: TargetState | undefined;
  const keeper = copyKeeper(target, () => {
    atKill = structuredClone(state.last);
    afterDrop(target);
  });
  fulfilled((await copyInProcess({ source, target, state, keeper })).target);
  expect(existsSync(`${target}.good`)).toBe(false);
  if (atKill === undefined) throw new Error("the preserved copy was never dropped");
  return { source, target, atKill, keeper };
}

describe("--keep-good: the preserved copy is dropped after the volume is recorded complete", () => {
  it("a receiver killed once the copy is gone leaves a record of a complete, verified copy", async () => {
    const { source, target, atKill } = await killedWhileDropping("kill");
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(atKill).toMatchObject({ complete: true, verified: true });
    expect(atKill.good?.where).toBe(`${target}.good`);
  });

  it("the next sync after that kill reads the copy to check when removing it moved the stamp, then goes on", async () => {
    // A snapshot's removal may move the volume's stamp: here the image's times move instead.
    const { source, target, atKill, keeper } = await killedWhileDropping("stamp", (t) =>
      utimesSync(t, new Date(), new Date()),
    );
    scatter(source, 5, 9);
    const logs: string[] = [];
    const state = new MemoryStateStore();
    state.saved.push(atKill);
    const next = await copyInProcess({ source, target, state, keeper, target_: { log: (l) => logs.push(l) } });
    fulfilled(next.target);
    expect(logs.join("\n")).toContain("its record still names the preserved copy");
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(state.last).toMatchObject({ complete: true, verified: true });
    expect(state.last?.good).toBeUndefined();
  });

  it("and still refuses when the volume itself was written after that kill", async () => {
    const { target, source, atKill } = await killedWhileDropping("written");
    scatter(target, 3, 10);
    const state = new MemoryStateStore();
    state.saved.push(atKill);
    const next = await copyInProcess({ source, target, state });
    expect(next.target.status).toBe("rejected");
    expect((next.target as PromiseRejectedResult).reason.code).toBe("E_DIVERGED");
  });
});
