/**
 * A cached night of scattered short changes: the changed runs go as a few
 * BLOCK_RUNS messages (the blocks between them kept), not a BLOCKS and a
 * SAME_RUN per run; long runs still go as BLOCKS; each message stays within a
 * checkpoint interval; the copy ends byte-identical and verified.
 */
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { type BlockRuns, MessageType } from "../../src/protocol/messages.js";
import { syncedPair } from "../helpers/cached-pair.js";
import { fulfilled } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, seededInts, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
afterEach(() => vi.restoreAllMocks());

const SIZE = 48 * 1024 * 1024 + 12288;

/** Writes `count` runs of 1 to 4 random 4 KiB blocks at scattered places; returns the blocks written. */
function scatter(path: string, count: number, seed: number): Set<number> {
  const pick = seededInts(seed);
  const fd = openSync(path, "r+");
  const written = new Set<number>();
  for (let i = 0; i < count; i++) {
    const n = 1 + pick(4);
    const first = pick(SIZE / 4096 - n);
    writeSync(fd, seededBytes(n * 4096, seed + i), 0, n * 4096, first * 4096);
    for (let b = first; b < first + n; b++) written.add(b);
  }
  closeSync(fd);
  return written;
}

/** The messages the source sends from now on: their types, and the BLOCK_RUNS decoded. */
function watchSends(blockSize: number) {
  const types: number[] = [];
  const runs: BlockRuns[] = [];
  const send = FrameChannel.prototype.send;
  vi.spyOn(FrameChannel.prototype, "send").mockImplementation(function (this: FrameChannel, type, body, ...rest) {
    types.push(type);
    if (type === MessageType.blockRuns) runs.push(codecs.blockRuns.decode(Buffer.concat(body), blockSize));
    return send.call(this, type, body, ...rest);
  });
  const count = (type: number) => types.filter((t) => t === type).length;
  return { count, runs };
}

const identical = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

describe("BLOCK_RUNS: a cached night's scattered changes in a few messages", () => {
  it("sends 300 short runs as BLOCK_RUNS, no BLOCKS; byte-identical, and only the changed blocks travel", async () => {
    const seed = testSeed("block runs");
    const p = await syncedPair(scratch.dir, "runs", seed, SIZE, 4096);
    const written = scatter(p.source, 300, seed + 1);
    const sent = watchSends(4096);
    const r = await p.sync();
    expect(fulfilled(r.target).mode).toBe("cached");
    expect(identical(p.source, p.target)).toBe(true);
    expect(p.state.last).toMatchObject({ complete: true, verified: true });
    expect(sent.count(MessageType.blocks)).toBe(0);
    // 48 MiB in 64 MiB checkpoint intervals: one message, or a few if the 8192-block cap is met.
    expect(sent.count(MessageType.blockRuns)).toBeGreaterThanOrEqual(1);
    expect(sent.count(MessageType.blockRuns)).toBeLessThanOrEqual(3);
    const blocks = sent.runs.reduce((n, m) => n + m.kinds.length, 0);
    // A write that landed on its old bytes (mixed image: zeros) is not a change; none sent that was not written.
    expect(blocks).toBeLessThanOrEqual(written.size);
    expect(blocks).toBe(r.stats.changedBlocks);
    for (const m of sent.runs)
      for (const run of m.runs)
        for (let b = run.first; b < run.first + run.count; b++) expect(written.has(b)).toBe(true);
    expect(r.targetStats.readBytes).toBe(0);
  });

  it("a long changed run goes as BLOCKS, short ones around it as BLOCK_RUNS, in block order", async () => {
    const seed = testSeed("block runs long");
    const p = await syncedPair(scratch.dir, "long", seed, SIZE, 4096);
    scatter(p.source, 40, seed + 1);
    const fd = openSync(p.source, "r+");
    writeSync(fd, seededBytes(1024 * 1024, seed + 2), 0, 1024 * 1024, 20 * 1024 * 1024);
    closeSync(fd);
    const sent = watchSends(4096);
    const r = await p.sync();
    fulfilled(r.target);
    expect(identical(p.source, p.target)).toBe(true);
    expect(sent.count(MessageType.blocks)).toBeGreaterThanOrEqual(1);
    expect(sent.count(MessageType.blockRuns)).toBeGreaterThanOrEqual(2);
  });

  it("keeps each message within the target's checkpoint interval", async () => {
    const seed = testSeed("block runs span");
    const p = await syncedPair(scratch.dir, "span", seed, SIZE, 4096);
    scatter(p.source, 200, seed + 1);
    const sent = watchSends(4096);
    const interval = 16 * 1024 * 1024;
    const r = await p.sync({ checkpointBytes: interval });
    fulfilled(r.target);
    expect(identical(p.source, p.target)).toBe(true);
    expect(sent.runs.length).toBeGreaterThanOrEqual(3);
    for (const m of sent.runs) {
      const last = m.runs[m.runs.length - 1] as { first: number; count: number };
      expect(last.first + last.count - (m.runs[0]?.first ?? 0)).toBeLessThanOrEqual(interval / 4096);
    }
  });
});

describe("BLOCK_RUNS as the socket delivers it: in chunks", () => {
  it("decodes the same from any cut of its body, header included, and keeps the payload in the chunks", () => {
    const seed = testSeed("block runs chunks");
    const pick = seededInts(seed);
    const m: BlockRuns = {
      runs: [
        { first: 7, count: 2 },
        { first: 100, count: 1 },
      ],
      kinds: Uint8Array.of(0, 2, 0),
      sizes: Uint32Array.of(4096, 0, 100),
      payload: [seededBytes(4196, seed)],
    };
    const body = Buffer.concat(codecs.blockRuns.encode(m));
    for (let trial = 0; trial < 50; trial++) {
      const cuts = [...new Set([pick(body.length), pick(60), pick(body.length)])].sort((a, b) => a - b);
      const parts = [0, ...cuts].map((from, i) => body.subarray(from, [...cuts, body.length][i]));
      const got = codecs.blockRuns.decode(parts, 4096);
      expect(got.runs).toEqual(m.runs);
      expect(got.kinds).toEqual(m.kinds);
      expect(got.sizes).toEqual(m.sizes);
      expect(Buffer.concat(got.payload).equals(m.payload[0] as Buffer)).toBe(true);
    }
  });
});
