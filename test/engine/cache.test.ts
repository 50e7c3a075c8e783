import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { syncedPair as syncedPairIn } from "../helpers/cached-pair.js";
import { fulfilled, scatter } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const BS = 65536;
const SIZE = 48 * 1024 * 1024 + 5000;

function syncedPair(name: string, seed: number) {
  return syncedPairIn(scratch.dir, name, seed, SIZE, BS);
}

function identical(a: string, b: string): boolean {
  return readFileSync(a).equals(readFileSync(b));
}

describe("digest cache: the next sync compares against the source's cache, the target reads at most the offered blocks", () => {
  it("sends only the changed blocks, reads nothing on the target, and keeps working run after run", async () => {
    const seed = testSeed("cache");
    const p = await syncedPair("runs", seed);
    expect(p.state.last).toMatchObject({ complete: true, generation: 1 });
    expect(statSync(p.cachePath).size).toBe(4096 + Math.ceil(SIZE / BS) * 16);
    for (let run = 1; run <= 3; run++) {
      const changed = scatter(p.source, 25, seed + run);
      const r = await p.sync();
      fulfilled(r.target);
      const result = fulfilled(r.source);
      expect(result).toMatchObject({ compared: true, cached: true });
      expect(identical(p.source, p.target)).toBe(true);
      expect(r.targetStats.readBytes).toBe(0);
      expect(r.stats.targetReadBytes).toBe(0);
      expect(r.stats.changedBlocks).toBe(changed.size);
      expect(r.stats.digestBytes).toBe(0);
      const crossed = r.bytes.aToB + r.bytes.bToA;
      expect(crossed).toBeLessThanOrEqual(1.1 * changed.size * BS);
      expect(p.state.last).toMatchObject({ complete: true, verified: true, generation: run + 1 });
      expect(p.state.last?.fingerprint).toBe(result.fingerprint);
      console.log(`run ${run}: ${changed.size} blocks changed, ${crossed} bytes crossed, target read 0`);
    }
    expect(p.warnings).toEqual([]);
  });

  it("two-level: a cached run sends the changed pieces as an uncached one does; the target reads only the offered blocks", async () => {
    const seed = testSeed("cached two-level");
    const [cached, uncached] = [await syncedPair("fine-c", seed), await syncedPair("fine-u", seed)];
    const changed = scatter(cached.source, 25, seed + 1);
    scatter(uncached.source, 25, seed + 1);
    const r = await cached.sync({ fineSize: 4096 });
    const u = await uncached.sync({ fineSize: 4096, readCache: false });
    fulfilled(r.target);
    fulfilled(u.target);
    expect(fulfilled(r.source)).toMatchObject({ cached: true });
    expect(fulfilled(u.source)).toMatchObject({ cached: false, compared: true });
    expect(identical(cached.source, cached.target)).toBe(true);
    expect(identical(uncached.source, uncached.target)).toBe(true);
    // The uncached run's target streamed a digest per block back; the cached run's did not.
    const [viaCache, viaDigests] = [r.bytes.aToB + r.bytes.bToA, u.bytes.aToB + u.bytes.bToA];
    console.log(`${changed.size} blocks changed: cached ${viaCache} bytes crossed, uncached ${viaDigests}`);
    expect(viaCache).toBeLessThanOrEqual(1.1 * viaDigests);
    expect(viaCache).toBeLessThan(changed.size * BS);
    const offered = [...changed].reduce((n, b) => n + Math.min(BS, SIZE - b * BS), 0);
    expect(r.targetStats.readBytes).toBe(offered);
    expect(r.stats.targetReadBytes).toBe(offered);
    expect(cached.state.last).toMatchObject({ complete: true, verified: true, generation: 2 });
    expect(cached.state.last?.fingerprint).toBe(fulfilled(r.source).fingerprint);
  });

  it("a temporary cache file left by a killed run is removed by the next", async () => {
    const p = await syncedPair("leftover", testSeed("leftover"));
    const leftover = join(dirname(p.cachePath), `.${basename(p.cachePath)}.99999999.tmp`);
    writeFileSync(leftover, "half a cache");
    fulfilled((await p.sync()).source);
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(p.cachePath)).toBe(true);
  });

  it("after --cache-runs syncs in a row from the cache, the target reads its copy again", async () => {
    const seed = testSeed("cache runs");
    const p = await syncedPair("cacheruns", seed);
    const used: boolean[] = [];
    for (let run = 1; run <= 5; run++) {
      scatter(p.source, 5, seed + run);
      const r = await p.sync({ cacheRuns: 2 });
      used.push(fulfilled(r.source).cached);
      expect(identical(p.source, p.target)).toBe(true);
    }
    expect(used).toEqual([true, true, false, true, true]);
  });

  it("a target written behind blockferry's back is refused, then with --force compared in full and repaired", async () => {
    const seed = testSeed("behind the back");
    const p = await syncedPair("behind", seed);
    // Someone writes into the copy (mounts it, say): the source's cache no longer describes it.
    const fd = openSync(p.target, "r+");
    writeSync(fd, seededBytes(4096, seed + 9), 0, 4096, 5 * BS + 100);
    closeSync(fd);
    scatter(p.source, 5, seed + 1);
    const held = readFileSync(p.target);
    const refused = await p.sync();
    expect(refused.target.status === "rejected" && refused.target.reason).toMatchObject({ code: "E_DIVERGED" });
    expect(readFileSync(p.target).equals(held)).toBe(true);
    const r = await p.sync({ force: true });
    fulfilled(r.target);
    expect(fulfilled(r.source)).toMatchObject({ compared: true, cached: false });
    expect(r.logs.join("\n")).toMatch(/digest cache is not used: the target was written outside blockferry/);
    expect(r.targetStats.readBytes).toBeGreaterThan(0);
    expect(identical(p.source, p.target)).toBe(true);
    // The new cache, written by that run, serves the next.
    scatter(p.source, 5, seed + 2);
    const next = await p.sync();
    expect(fulfilled(next.source)).toMatchObject({ cached: true });
    expect(next.targetStats.readBytes).toBe(0);
    expect(identical(p.source, p.target)).toBe(true);
  });

  it("a cache of another generation (another source synced the target since) is refused", async () => {
    const p = await syncedPair("generation", testSeed("generation"));
    const saved = readFileSync(p.cachePath);
    fulfilled((await p.sync({ readCache: false })).source); // generation 2, cache rewritten
    // Put the generation-1 cache back, as if a second source had synced in between.
    const fd = openSync(p.cachePath, "w");
    writeSync(fd, saved);
    closeSync(fd);
    scatter(p.source, 5, 77);
    const r = await p.sync();
    expect(fulfilled(r.source)).toMatchObject({ cached: false, compared: true });
    expect(r.logs.join("\n")).toMatch(/holds generation 2 of its copy, the cache generation 1/);
    expect(identical(p.source, p.target)).toBe(true);
  });

  const damages: Array<[string, (path: string) => void, RegExp]> = [
    [
      "a flipped digest byte",
      (path) => {
        // Inverted, so that it changes whatever it was (a fixed value matched it once in 256 seeds).
        const at = 4096 + 16 * 300 + 7;
        const fd = openSync(path, "r+");
        const byte = Buffer.alloc(1);
        readSync(fd, byte, 0, 1, at);
        writeSync(fd, Buffer.from([(byte[0] as number) ^ 0xff]), 0, 1, at);
        closeSync(fd);
      },
      /do not match its fingerprint/,
    ],
    ["a truncated file", (path) => truncateSync(path, statSync(path).size - 16), /truncated or damaged/],
    ["a header cut short", (path) => truncateSync(path, 1000), /shorter than its header/],
    [
      "a damaged header",
      (path) => {
        const fd = openSync(path, "r+");
        writeSync(fd, Buffer.from("9"), 0, 1, 60);
        closeSync(fd);
      },
      /header is damaged/,
    ],
  ];
  for (const [what, damage, warning] of damages) {
    it(`${what} in the cache file: ignored with a warning, never trusted`, async () => {
      const seed = testSeed(what);
      const p = await syncedPair(`damage-${what.replaceAll(" ", "-")}`, seed);
      damage(p.cachePath);
      scatter(p.source, 10, seed + 1);
      const r = await p.sync();
      fulfilled(r.target);
      expect(fulfilled(r.source)).toMatchObject({ cached: false, compared: true });
      expect(p.warnings.join("\n")).toMatch(warning);
      expect(r.targetStats.readBytes).toBeGreaterThan(0);
      expect(identical(p.source, p.target)).toBe(true);
    });
  }

  it("an interrupted cached delta, then a new sync, gives an identical target", async () => {
    const seed = testSeed("interrupted cached delta");
    const p = await syncedPair("interrupted", seed);
    scatter(p.source, 400, seed + 1); // enough changed data to be cut in the middle
    const cut = await p.sync({ cut: 6 * 1024 * 1024 });
    expect(cut.source.status).toBe("rejected");
    expect(p.state.last).toMatchObject({ complete: false });
    const r = await p.sync();
    fulfilled(r.target);
    expect(fulfilled(r.source)).toMatchObject({ cached: false, compared: true });
    expect(r.logs.join("\n")).toMatch(/the last sync to the target did not complete/);
    expect(identical(p.source, p.target)).toBe(true);
    expect(p.state.last).toMatchObject({ complete: true, verified: true });
  });

  it("--no-cache compares with the target's digests and still leaves a fresh cache", async () => {
    const p = await syncedPair("nocache", testSeed("no cache"));
    scatter(p.source, 5, 3);
    const r = await p.sync({ readCache: false });
    expect(fulfilled(r.source)).toMatchObject({ cached: false, compared: true });
    expect(r.targetStats.readBytes).toBeGreaterThan(0);
    expect(r.logs.join("\n")).not.toMatch(/not used/);
    const next = await p.sync();
    expect(fulfilled(next.source)).toMatchObject({ cached: true });
  });

  it("with --verify the target re-reads the whole copy even when the cache was used", async () => {
    const p = await syncedPair("verify", testSeed("cache verify"));
    scatter(p.source, 5, 4);
    const r = await p.sync({ verify: true });
    fulfilled(r.target);
    expect(fulfilled(r.source)).toMatchObject({ cached: true });
    expect(r.targetStats.readBytes).toBeGreaterThan(0);
    expect(identical(p.source, p.target)).toBe(true);
  });
});
