/**
 * Change tracking in the engine, on image files: the pool's diff (as
 * thin_delta would give it) says which 64 KiB chunks changed since the last
 * sync; the source reads only those, the target nothing (whole blocks here), and the copy
 * ends byte-identical and verified. When the cache or the target cannot be
 * trusted, the hash delta runs instead, with a line saying why.
 */
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import type { TrackedChanges } from "../../src/engine/source-types.js";
import type { ChunkRun } from "../../src/host/thin-delta.js";
import { digestBlocks } from "../../src/native/index.js";
import { syncedPair } from "../helpers/cached-pair.js";
import { fulfilled } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, seededInts, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const CHUNK = 65536;
const SIZE = 32 * 1024 * 1024 + 12288;

function identical(a: string, b: string): boolean {
  return readFileSync(a).equals(readFileSync(b));
}

/** Writes `bytes` at `at` in `path`. */
function put(path: string, at: number, bytes: Buffer): void {
  const fd = openSync(path, "r+");
  writeSync(fd, bytes, 0, bytes.length, at);
  closeSync(fd);
}

/**
 * `bytes`, made to differ from what `path` holds at `at`: the next run's seeds are this run's
 * plus one, so a write could land where the last run wrote the same bytes (seed 1090853648).
 */
function unlike(path: string, at: number, bytes: Buffer): Buffer {
  const held = Buffer.alloc(bytes.length);
  const fd = openSync(path, "r");
  readSync(fd, held, 0, held.length, at);
  closeSync(fd);
  if (held.equals(bytes)) bytes[0] = (bytes[0] ?? 0) ^ 0xff;
  return bytes;
}

/**
 * Changes the source as a thin volume would see it: `count` scattered 4 KiB
 * writes (each remaps its chunk), one of them the same bytes again, and one
 * chunk discarded (zeros now, unmapped). Returns the diff thin_delta would print.
 */
function change(path: string, count: number, seed: number, base: string): TrackedChanges {
  const pick = seededInts(seed);
  const chunks = Math.floor(SIZE / CHUNK);
  const different = new Set<number>();
  for (let i = 0; i < count; i++) {
    const at = pick(Math.floor(SIZE / 4096)) * 4096;
    put(path, at, unlike(path, at, seededBytes(4096, seed + i)));
    different.add(Math.floor(at / CHUNK));
  }
  // A chunk none of the writes touched, rewritten with its own bytes: read, found unchanged.
  let same = pick(chunks);
  while (different.has(same)) same = (same + 1) % chunks;
  put(path, same * CHUNK, readFileSync(path).subarray(same * CHUNK, same * CHUNK + 4096));
  different.add(same);
  // A chunk with data in each of its 4 KiB blocks, discarded: all of it changes, to zeros.
  const before = readFileSync(path);
  const full = (c: number) =>
    Array.from({ length: CHUNK / 4096 }, (_, b) =>
      before.subarray(c * CHUNK + b * 4096, c * CHUNK + (b + 1) * 4096),
    ).every((block) => block.some((x) => x !== 0));
  let gone = pick(chunks);
  for (let tries = 0; different.has(gone) || !full(gone); tries++) {
    if (tries === chunks) throw new Error("no chunk full of data to discard");
    gone = (gone + 1) % chunks;
  }
  put(path, gone * CHUNK, Buffer.alloc(CHUNK));
  const runs: ChunkRun[] = [...different].map((begin) => ({ kind: "different" as const, begin, length: 1 }));
  runs.push({ kind: "left_only", begin: gone, length: 1 });
  runs.sort((a, b) => a.begin - b.begin);
  return { delta: { chunkBytes: CHUNK, runs }, baseFingerprint: base, diffSeconds: 0.25 };
}

/** Each changed chunk is read whole, up to the volume's end (its last chunk is 12 KiB). */
function bytesToRead(changes: TrackedChanges): number {
  const different = changes.delta.runs.filter((r) => r.kind === "different");
  return different.reduce((n, r) => n + Math.min(CHUNK, SIZE - r.begin * CHUNK), 0);
}

describe("change tracking: only the blocks thin_delta lists are read", () => {
  it("reads the changed chunks, sends what differs, the target reads nothing, byte-identical run after run", async () => {
    const seed = testSeed("tracked");
    const p = await syncedPair(scratch.dir, "tracked", seed, SIZE);
    let base = p.firstFingerprint;
    for (let run = 1; run <= 2; run++) {
      const changes = change(p.source, 20, seed + run, base);
      const readChunks = changes.delta.runs.filter((r) => r.kind === "different").length;
      const r = await p.sync({ changes });
      // The target is told: its result and record say how the changes were found.
      expect(fulfilled(r.target).mode).toBe("tracked");
      const result = fulfilled(r.source);
      expect(result).toMatchObject({ compared: true, cached: true });
      expect(identical(p.source, p.target)).toBe(true);
      expect(r.stats.changesFromThinDelta).toBe(true);
      expect(r.stats.diffSeconds).toBe(0.25);
      expect(r.stats.readBytes).toBe(bytesToRead(changes));
      expect(r.targetStats.readBytes).toBe(0);
      // The chunk rewritten with its own bytes is read but not sent; the discarded one goes as zeros.
      expect(r.stats.changedBlocks).toBe(readChunks);
      expect(r.stats.zeroBytes).toBe(CHUNK);
      expect(p.state.last).toMatchObject({ complete: true, verified: true, fingerprint: result.fingerprint });
      // Recorded as a cached sync that was tracked: a record older versions still read.
      expect(p.state.last?.lastSync).toMatchObject({ mode: "cached", tracked: true });
      base = result.fingerprint;
    }
    // The cache it wrote (old digests where nothing was read) holds the digest of every block as it is now.
    const cache = readFileSync(p.cachePath);
    const header = JSON.parse(cache.subarray(0, 4096).toString("utf8")) as { header: { seed: string } };
    const digests = await digestBlocks(readFileSync(p.source), CHUNK, BigInt(header.header.seed));
    expect(cache.subarray(4096).equals(digests.digests)).toBe(true);
    expect(p.warnings).toEqual([]);
  });

  it("blocks smaller than the pool's chunks: a chunk is read whole, only its changed 4 KiB blocks are sent", async () => {
    const seed = testSeed("tracked small blocks");
    const p = await syncedPair(scratch.dir, "small", seed, SIZE, 4096);
    const changes = change(p.source, 10, seed + 1, p.firstFingerprint);
    const r = await p.sync({ changes });
    fulfilled(r.target);
    expect(identical(p.source, p.target)).toBe(true);
    expect(r.stats.readBytes).toBe(bytesToRead(changes));
    // At most the 10 written blocks (fewer if two writes met) and the discarded chunk's 16 as zeros.
    expect(r.stats.rawBytes).toBeLessThanOrEqual(10 * 4096);
    expect(r.stats.changedBlocks).toBe(r.stats.rawBytes / 4096 + 16);
    expect(r.targetStats.readBytes).toBe(0);
  });
});

describe("change tracking falls back to the hash delta, saying why", () => {
  const fallback = /change tracking not used: (.*); comparing every block \(hash delta\)/;

  it("when the base snapshot is not the one the cache describes", async () => {
    const seed = testSeed("tracked wrong base");
    const p = await syncedPair(scratch.dir, "wrongbase", seed, SIZE);
    const changes = change(p.source, 5, seed + 1, "0".repeat(32));
    const r = await p.sync({ changes });
    expect(fulfilled(r.target).mode).toBe("cached");
    expect(r.logs.join("\n")).toMatch(/change tracking not used: the base snapshot is not the one the digest cache/);
    expect(r.stats.changesFromThinDelta).toBe(false);
    expect(r.stats.readBytes).toBe(SIZE);
    expect(identical(p.source, p.target)).toBe(true);
  });

  it("without the digest cache (--no-cache)", async () => {
    const seed = testSeed("tracked no cache");
    const p = await syncedPair(scratch.dir, "nocache", seed, SIZE);
    const r = await p.sync({ readCache: false, changes: change(p.source, 5, seed + 1, p.firstFingerprint) });
    fulfilled(r.target);
    expect(r.logs.join("\n").match(fallback)?.[1]).toBe("no digest cache is offered this run");
    expect(r.targetStats.readBytes).toBe(SIZE);
    expect(identical(p.source, p.target)).toBe(true);
  });

  it("when the target was written outside blockferry (taken with --force)", async () => {
    const seed = testSeed("tracked target written");
    const p = await syncedPair(scratch.dir, "written", seed, SIZE);
    put(p.target, 3 * CHUNK + 512, seededBytes(4096, seed + 7));
    const changes = change(p.source, 5, seed + 1, p.firstFingerprint);
    const r = await p.sync({ force: true, changes });
    expect(fulfilled(r.target).mode).toBe("compare");
    expect(r.logs.join("\n").match(fallback)?.[1]).toBe("the target did not take the digest cache");
    expect(identical(p.source, p.target)).toBe(true);
  });
});
