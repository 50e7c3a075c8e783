import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BlockWriter } from "../../src/engine/block-writer.js";
import { TransferStats } from "../../src/engine/stats.js";
import { openVolume, type Volume } from "../../src/native/index.js";
import { MAX_BLOCKS_BYTES } from "../../src/protocol/messages.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

/** A real image whose writes are held until released, so that the writes in flight can be counted. */
async function heldVolume(name: string, size: number) {
  const volume = await openVolume(join(scratch.dir, `${name}.img`), { write: true, create: true });
  await volume.setSize(size);
  const held: Array<() => void> = [];
  const counts = { running: 0, most: 0 };
  const write: Volume["write"] = async (...args) => {
    counts.running++;
    counts.most = Math.max(counts.most, counts.running);
    await new Promise<void>((r) => held.push(r));
    try {
      return await volume.write(...args);
    } finally {
      counts.running--;
    }
  };
  const wrapped = { allocBuffer: volume.allocBuffer.bind(volume), write } as unknown as Volume;
  const letGo = () => {
    for (const r of held.splice(0)) r();
  };
  return { volume, wrapped, counts, letGo, path: join(scratch.dir, `${name}.img`) };
}

/** Writes each message as the target does; lets the held writes go whenever the writer waits. */
async function writeAll(writer: BlockWriter, letGo: () => void, messages: Array<{ offset: number; data: Buffer }>) {
  for (const m of messages) {
    const buffer = await writer.acquire(m.data.length);
    m.data.copy(buffer);
    const queued = writer.write(buffer, m.offset, m.data.length, new Uint8Array(m.data.length / 4096));
    const waiting = setInterval(letGo, 5); // the writer waits only when it has too much in flight
    await queued;
    clearInterval(waiting);
  }
  const draining = setInterval(letGo, 5);
  await writer.drain();
  clearInterval(draining);
}

describe("the target's writes", () => {
  it("keep many short writes in flight (a night of scattered changes), and write every byte", async () => {
    const seed = testSeed("short writes");
    const { volume, wrapped, counts, letGo, path } = await heldVolume("short", 8 * 2 ** 20);
    const writer = new BlockWriter(wrapped, 4096, new TransferStats());
    const messages = Array.from({ length: 40 }, (_, i) => ({ offset: i * 131072, data: seededBytes(65536, seed + i) }));
    await writeAll(writer, letGo, messages);
    await volume.close();
    // Two writes and the one being queued were all there was before: a wait at every message.
    expect(counts.most).toBeGreaterThan(3);
    const image = readFileSync(path);
    for (const m of messages) expect(image.subarray(m.offset, m.offset + 65536).equals(m.data)).toBe(true);
  });

  it("keep no more whole batches in flight than their pool of three buffers", async () => {
    const seed = testSeed("batch writes");
    const { volume, wrapped, counts, letGo, path } = await heldVolume("batches", 5 * MAX_BLOCKS_BYTES);
    const writer = new BlockWriter(wrapped, 65536, new TransferStats());
    const messages = Array.from({ length: 5 }, (_, i) => ({
      offset: i * MAX_BLOCKS_BYTES,
      data: seededBytes(MAX_BLOCKS_BYTES, seed + i),
    }));
    await writeAll(writer, letGo, messages);
    await volume.close();
    expect(counts.most).toBe(3);
    const image = readFileSync(path);
    for (const m of messages) {
      expect(image.subarray(m.offset, m.offset + MAX_BLOCKS_BYTES).equals(m.data)).toBe(true);
    }
  });
});
