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
import { changeStamp } from "../../src/job/identity.js";
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
async function killedWhileDropping(name: string, afterDrop: (target: string) => void = () => {}, lost = "") {
  const source = join(scratch.dir, `${name}-src.img`);
  const target = join(scratch.dir, `${name}-dst.img`);
  writeMixedImage(source, SIZE, 7);
  const state = new MemoryStateStore();
  fulfilled((await copyInProcess({ source, target, state })).target);
  scatter(source, 20, 8);
  let atKill: TargetState | undefined;
  const dropping = copyKeeper(target, () => {
    atKill = structuredClone(state.last);
    afterDrop(target);
  });
  // `lost`: what the keeper says of the copy once the sync is verified ("" whole).
  const keeper = lost === "" ? dropping : { ...dropping, lost: async () => lost };
  fulfilled((await copyInProcess({ source, target, state, keeper })).target);
  expect(existsSync(`${target}.good`)).toBe(false);
  if (atKill === undefined) throw new Error("the preserved copy was never dropped");
  return { source, target, atKill, keeper, state };
}

describe("--keep-good: the preserved copy is dropped after the volume is recorded complete", () => {
  it("a receiver killed once the copy is gone leaves a record of a complete, verified copy", async () => {
    const { source, target, atKill, state } = await killedWhileDropping("kill");
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(atKill).toMatchObject({ complete: true, verified: true });
    expect(atKill.good?.where).toBe(`${target}.good`);
    // Removing a clone beside the image leaves its stamp: the record then still vouches for it, unread.
    expect(state.last?.stamp).toBe(atKill.stamp);
    expect(await changeStamp(target)).toBe(atKill.stamp);
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

describe("--keep-good keeps only what its record describes, and forgets no kept copy", () => {
  it("a forced sync into a target written since keeps nothing as that sync's copy", async () => {
    const source = join(scratch.dir, "forced-src.img");
    const target = join(scratch.dir, "forced-dst.img");
    writeMixedImage(source, SIZE, 21);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    scatter(target, 4, 22); // someone wrote the standby: it is no longer generation 1
    const before = state.saved.length;
    const logs: string[] = [];
    const keeper = copyKeeper(target);
    const r = await copyInProcess({
      source,
      target,
      state,
      keeper,
      source_: { force: true },
      target_: { log: (l) => logs.push(l) },
    });
    fulfilled(r.target);
    // No record during the sync offered the written volume as generation 1's copy.
    expect(state.saved.slice(before).map((s) => s.good)).toEqual(state.saved.slice(before).map(() => undefined));
    expect(logs.join("\n")).toContain("no verified copy here to keep while this sync writes it");
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
  });

  it("a receiver without --keep-good carries a kept copy of an unfinished sync on record", async () => {
    const source = join(scratch.dir, "carry-src.img");
    const target = join(scratch.dir, "carry-dst.img");
    const size = 64 * 1024 * 1024;
    writeMixedImage(source, size, 31);
    const state = new MemoryStateStore();
    fulfilled((await copyInProcess({ source, target, state })).target);
    writeMixedImage(source, size, 32);
    const keeper = copyKeeper(target);
    const cut = await copyInProcess({ source, target, state, keeper, cutAfterBytes: 1 << 20 });
    expect(cut.target.status).toBe("rejected");
    const kept = state.last?.good;
    expect(kept?.where).toBe(`${target}.good`);
    const again = await copyInProcess({ source, target, state, cutAfterBytes: 1 << 20 });
    expect(again.target.status).toBe("rejected");
    expect(state.last).toMatchObject({ complete: false, good: kept });
    expect(existsSync(`${target}.good`)).toBe(true);
    // A keeper that cannot tell whether the copy is whole (lvs timed out, say) does not forget it either.
    const blind = { ...keeper, lost: () => Promise.reject(new Error("lvs timed out")) };
    const third = await copyInProcess({ source, target, state, keeper: blind, cutAfterBytes: 1 << 20 });
    expect(third.target.status).toBe("rejected");
    expect(state.last).toMatchObject({ complete: false, good: kept });
    expect(state.last?.lostGood).toBeUndefined();
  });

  it("a copy lost during a sync is on record before the record that completes it", async () => {
    const { atKill } = await killedWhileDropping("lost", () => {}, "the snapshot overflowed");
    expect(atKill.lostGood?.why).toBe("the snapshot overflowed");
  });
});
