import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TargetState } from "../../src/engine/state.js";
import { FileStateStore } from "../../src/job/state-file.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const state: TargetState = {
  version: 1,
  complete: false,
  verified: false,
  mode: "copy",
  sourceId: "host:/dev/vg/lv",
  targetId: "block:253:3:1073741824:LVM-abc",
  sourceSize: 1 << 30,
  blockSize: 65536,
  seed: "18446744073709551615",
  blocksDone: 1024,
  fingerprint: "00112233445566778899aabbccddeeff",
  generation: 0,
  startedAt: "2026-11-26T00:00:00.000Z",
  updatedAt: "2026-11-26T00:01:00.000Z",
};

describe("the target's state file", () => {
  it("round-trips, and a damaged or tampered file is ignored with a warning", async () => {
    const path = join(scratch.dir, "t.img.blockferry-state.json");
    const warnings: string[] = [];
    const store = new FileStateStore(path, (w) => warnings.push(w));
    expect(await store.load()).toBeUndefined();
    await store.save(state);
    expect(await store.load()).toEqual(state);

    const text = readFileSync(path, "utf8");
    writeFileSync(path, text.replace('"complete": false', '"complete": true')); // checksum no longer matches
    expect(await store.load()).toBeUndefined();
    writeFileSync(path, text.slice(0, text.length / 2)); // truncated
    expect(await store.load()).toBeUndefined();
    writeFileSync(path, Buffer.alloc(100 * 1024, 32)); // oversized
    expect(await store.load()).toBeUndefined();
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/damaged: ignored/);
  });
});

describe("a change-tracked sync's record", () => {
  it("is a cached sync with `tracked` set, read back as written", async () => {
    const path = join(scratch.dir, "tracked.img.blockferry-state.json");
    const store = new FileStateStore(path, () => {});
    const lastSync = {
      at: state.updatedAt,
      sourceId: state.sourceId,
      generation: 2,
      seconds: 1,
      bytesIn: 5,
      bytesOut: 1,
    };
    const tracked: TargetState = { ...state, lastSync: { ...lastSync, mode: "cached", tracked: true, reread: false } };
    await store.save(tracked);
    expect(await store.load()).toEqual(tracked);
  });
});
