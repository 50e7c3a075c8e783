/**
 * The thin_delta parser and the chunk-to-block mapping, on real output of
 * thin_delta (thin-provisioning-tools, as Debian 12 ships it): pool metadata
 * built from XML with thin_restore into a file, diffed without device-mapper.
 * The random test checks the mapping against a chunk-by-chunk model of the
 * two devices: every block whose bytes differ is handled, and a block sent as
 * zeros reads as zeros.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { changedBlocks, parseThinDelta } from "../../src/host/thin-delta.js";
import { seededInts, testSeed } from "../helpers/random.js";

const dir = mkdtempSync(join(tmpdir(), "bf-thindelta-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Chunk -> data block of a thin device (absent: unmapped). */
type Mapping = Map<number, number>;

function metadataXml(sectors: number, left: Mapping, right: Mapping): string {
  const device = (id: number, m: Mapping) =>
    `  <device dev_id="${id}" mapped_blocks="${m.size}" transaction="0" creation_time="0" snap_time="1">\n` +
    [...m.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([c, d]) => `    <single_mapping origin_block="${c}" data_block="${d}" time="0"/>\n`)
      .join("") +
    "  </device>\n";
  return (
    `<superblock uuid="" time="1" transaction="2" data_block_size="${sectors}" nr_data_blocks="100000">\n` +
    device(1, left) +
    device(2, right) +
    "</superblock>\n"
  );
}

let n = 0;
function realDelta(sectors: number, left: Mapping, right: Mapping): string {
  const name = join(dir, `m${n++}`);
  writeFileSync(`${name}.xml`, metadataXml(sectors, left, right));
  writeFileSync(`${name}.bin`, Buffer.alloc(0));
  execFileSync("truncate", ["-s", "16M", `${name}.bin`]);
  execFileSync("thin_restore", ["-i", `${name}.xml`, "-o", `${name}.bin`]);
  return execFileSync("thin_delta", ["--snap1", "1", "--snap2", "2", `${name}.bin`], { encoding: "utf8" });
}

describe("parseThinDelta", () => {
  it("reads thin_delta's runs and the chunk size", () => {
    const left = new Map([
      [0, 0],
      [1, 1],
      [5, 5],
      [9, 9],
    ]);
    const right = new Map([
      [0, 0],
      [1, 50],
      [9, 9],
      [12, 60],
    ]);
    const delta = parseThinDelta(realDelta(128, left, right), 1, 2);
    expect(delta.chunkBytes).toBe(65536);
    expect(delta.runs).toEqual([
      { kind: "same", begin: 0, length: 1 },
      { kind: "different", begin: 1, length: 1 },
      { kind: "left_only", begin: 5, length: 1 },
      { kind: "same", begin: 9, length: 1 },
      { kind: "right_only", begin: 12, length: 1 },
    ]);
  });

  const good =
    '<superblock uuid="" time="2" transaction="3" data_block_size="128" nr_data_blocks="0">\n' +
    '  <diff left="2" right="3">\n    <different begin="64" length="16"/>\n  </diff>\n</superblock>\n';
  it.each([
    ["another pair of devices", good, 2, 4, /expected the diff of 2 and 4/],
    ["an unknown element", good.replace("different", "moved"), 2, 3, /unknown element <moved>/],
    ["an unknown attribute", good.replace('length="16"', 'length="16" x="1"'), 2, 3, /unknown attribute x/],
    ["a zero length", good.replace('length="16"', 'length="0"'), 2, 3, /length: expected a whole number >= 1/],
    ["a negative begin", good.replace('begin="64"', 'begin="-1"'), 2, 3, /begin: expected a whole number/],
    ["text", good.replace("</diff>", "oops</diff>"), 2, 3, /expected a tag/],
    ["no end", good.replace("</superblock>\n", ""), 2, 3, /expected <\/diff><\/superblock>/],
    ["an error message", "Unable to find mapping tree for snap2 (9)\n", 2, 3, /expected a tag/],
    [
      "overlapping runs",
      good.replace("</diff>", '<same begin="70" length="1"/></diff>'),
      2,
      3,
      /overlaps or precedes chunk 80/,
    ],
    ["no chunk size", good.replace('data_block_size="128"', ""), 2, 3, /data_block_size: expected/],
  ])("refuses %s", (_name, xml, left, right, message) => {
    expect(() => parseThinDelta(xml, left, right)).toThrow(message);
  });
});

describe("changedBlocks", () => {
  it("maps unaligned chunks to every block they touch, clipped at the volume's end", () => {
    // 64 KiB chunks, 96 KiB blocks: chunk 1 ([64K, 128K)) touches blocks 0 and 1.
    const delta = { chunkBytes: 65536, runs: [{ kind: "different" as const, begin: 1, length: 1 }] };
    expect(changedBlocks(delta, 10 * 98304, 98304)).toEqual([{ kind: "read", first: 0, count: 2 }]);
    const past = { chunkBytes: 65536, runs: [{ kind: "right_only" as const, begin: 14, length: 10 }] };
    // 1 MiB volume: chunks 14 and 15 are in it, 16.. are past its end.
    expect(changedBlocks(past, 1 << 20, 4096)).toEqual([{ kind: "read", first: 224, count: 32 }]);
  });

  it("reads a block that lost some chunks and kept others; sends one that lost all as zeros", () => {
    const delta = {
      chunkBytes: 65536,
      runs: [
        { kind: "same" as const, begin: 0, length: 1 },
        { kind: "left_only" as const, begin: 1, length: 3 },
      ],
    };
    // 128 KiB blocks: block 0 holds chunk 0 (kept) and 1 (lost): read; block 1 (chunks 2, 3): zeros.
    expect(changedBlocks(delta, 1 << 20, 131072)).toEqual([
      { kind: "read", first: 0, count: 1 },
      { kind: "zero", first: 1, count: 1 },
    ]);
  });

  it("agrees with a chunk-by-chunk model on random pairs of devices", () => {
    const seed = testSeed("thin-delta-model");
    const rand = seededInts(seed);
    for (let round = 0; round < 6; round++) {
      const chunks = 200 + rand(200);
      const left: Mapping = new Map();
      const right: Mapping = new Map();
      let fresh = 10000;
      for (let c = 0; c < chunks; c++) {
        const r = rand(10);
        if (r < 2) continue; // unmapped in both
        if (r < 5)
          left.set(c, c) && right.set(c, c); // shared
        else if (r < 6)
          left.set(c, c); // discarded since
        else if (r < 7)
          right.set(c, fresh++); // newly written
        else if (r < 8)
          left.set(c, c) && right.set(c, fresh++); // rewritten
        else if (rand(2) === 0) left.set(c, c) && right.set(c, c);
      }
      const delta = parseThinDelta(realDelta(128, left, right), 1, 2);
      for (const blockSize of [4096, 65536, 98304, 1 << 20]) {
        const size = chunks * 65536 - rand(65536);
        checkAgainstModel(changedBlocks(delta, size, blockSize), left, right, size, blockSize);
      }
    }
  });
});

/** Every block whose bytes may differ is read or zeroed; a zeroed block is unmapped now; no block listed twice. */
function checkAgainstModel(
  ranges: ReturnType<typeof changedBlocks>,
  left: Mapping,
  right: Mapping,
  size: number,
  blockSize: number,
): void {
  const kind = new Map<number, "read" | "zero">();
  let next = 0;
  for (const r of ranges) {
    expect(r.first).toBeGreaterThanOrEqual(next);
    expect(r.count).toBeGreaterThan(0);
    for (let b = r.first; b < r.first + r.count; b++) kind.set(b, r.kind);
    next = r.first + r.count;
  }
  const blocks = Math.ceil(size / blockSize);
  expect(next).toBeLessThanOrEqual(blocks);
  for (let b = 0; b < blocks; b++) {
    const first = Math.floor((b * blockSize) / 65536);
    const last = Math.floor((Math.min((b + 1) * blockSize, size) - 1) / 65536);
    let differs = false;
    let mappedNow = false;
    for (let c = first; c <= last; c++) {
      if (left.get(c) !== right.get(c)) differs = true;
      if (right.has(c)) mappedNow = true;
    }
    if (differs) expect(kind.get(b), `block ${b} of ${blockSize}`).toBe(mappedNow ? "read" : "zero");
    else expect(kind.get(b), `block ${b} of ${blockSize}`).toBeUndefined();
  }
}
