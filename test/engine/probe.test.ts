/**
 * The probe (`blockferry bench --to`): the target answers round trips,
 * counts PROBE bytes and reads samples of its volume, and writes nothing,
 * records nothing; a hostile source cannot make it buffer or read beyond the
 * caps, nor slip copy options into a probe.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { probeOver } from "../../src/benchmark/probe-client.js";
import { runTarget } from "../../src/engine/target.js";
import { openVolume } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MAX_PROBE_BYTES, MAX_PROBE_READ_MS, MessageType, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";
import { MemoryStateStore } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
const SIZE = 8 * 1024 * 1024;

/** A target over an in-process pair; `talk` plays the source on the other end. */
async function withTarget<T>(talk: (stream: Duplex) => Promise<T>) {
  const path = join(scratch.dir, `t-${Math.random().toString(36).slice(2)}.img`);
  writeFileSync(path, seededBytes(SIZE, 7));
  const before = sha256(path);
  const state = new MemoryStateStore();
  let resolved = 0;
  const pair = memoryPair();
  const target = runTarget({
    channel: new FrameChannel(pair.b),
    resolve: async () => {
      resolved++;
      return {
        volume: await openVolume(path, { write: true }),
        state,
        identity: "t",
        describe: "t",
        stamp: async () => "t",
      };
    },
  }).then(
    (r) => r,
    (e: unknown) => e as Error,
  );
  const source = await talk(pair.a).then(
    (r) => r,
    (e: unknown) => e as Error,
  );
  pair.a.end();
  return { source, target: await target, path, before, state, resolved: () => resolved };
}

const hello = (flags: Partial<Parameters<typeof codecs.hello.encode>[0]["flags"]> = {}, dirs: string[] = []) =>
  codecs.hello.encode({
    version: PROTOCOL_VERSION,
    targetName: "t",
    sourceSize: SIZE,
    blockSize: 65536,
    flags: { compress: false, full: false, verify: false, dryRun: false, probe: true, ...flags },
    sourceId: "test",
    cacheGeneration: 0,
    cacheFingerprint: Buffer.alloc(16),
    fineSize: 0,
    dirs,
  });

describe("a probe", () => {
  it("measures round trips, goodput and the target's reads, and writes nothing", async () => {
    const r = await withTarget((stream) =>
      probeOver(stream, {
        targetName: "t",
        sourceId: "test",
        sourceSize: SIZE,
        blockSize: 65536,
        streamMs: 300,
        timeoutMs: 30_000,
        readMs: 300,
        readBytes: SIZE,
        localDataBytes: SIZE,
        // Reads in step with the target: the gate holds each batch until the target has kept up.
        localRead: async (_ms, gate, stop) => {
          let bytes = 0;
          while (!stop() && bytes < SIZE) {
            await gate(bytes);
            bytes += 1 << 20;
          }
          return { bytes, seconds: 0.01 };
        },
      }),
    );
    if (r.source instanceof Error) throw r.source;
    expect(r.target).toMatchObject({ mode: "probe", target: "t" });
    expect(r.source.rttSamples).toHaveLength(9);
    expect(r.source.rttSeconds).toBeGreaterThan(0);
    expect(r.source.goodput.bytes).toBeGreaterThan(0);
    expect(r.source.goodput.bytesPerSecond).toBeGreaterThan(0);
    expect(r.source.target).toMatchObject({ size: SIZE, isBlockDevice: false });
    expect(r.source.targetRead?.alone.bytes).toBeGreaterThan(0);
    expect(r.source.targetRead?.dataBytes).toBe(SIZE);
    expect(r.source.targetRead?.inStep.target.bytes).toBeGreaterThan(0);
    expect(r.source.targetRead?.inStep.wholeSeconds).toBeGreaterThan(0);
    expect(sha256(r.path)).toBe(r.before);
    expect(r.state.saved).toHaveLength(0);
    expect(existsSync(`${r.path}.blockferry-state.json`)).toBe(false);
  });

  it("refuses a PROBE declared beyond the cap before buffering it", async () => {
    const r = await withTarget(async (stream) => {
      const peer = new FrameChannel(stream);
      await peer.send(MessageType.hello, hello());
      expect((await peer.receive())?.type).toBe(MessageType.welcome);
      const header = Buffer.alloc(5);
      header.writeUInt32BE(MAX_PROBE_BYTES + 2, 0);
      header.writeUInt8(MessageType.probe, 4);
      stream.write(header);
      return peer.receive();
    });
    expect(r.target).toMatchObject({ code: "E_PROTOCOL", message: expect.stringMatching(/type 21 declares/) });
    expect(sha256(r.path)).toBe(r.before);
    expect(r.state.saved).toHaveLength(0);
  });

  it("refuses a read longer than the cap", async () => {
    const r = await withTarget(async (stream) => {
      const peer = new FrameChannel(stream);
      await peer.send(MessageType.hello, hello());
      await peer.receive();
      const ask = { maxBytes: 1 << 20, maxMs: MAX_PROBE_READ_MS + 1, phase: 0 };
      await peer.send(MessageType.probeRead, codecs.probeRead.encode(ask));
      return peer.receive();
    });
    expect(r.target).toMatchObject({ code: "E_PROTOCOL", message: expect.stringMatching(/PROBE_READ/) });
    expect(r.state.saved).toHaveLength(0);
  });

  it("refuses copy options in a probe, before the target is looked up", async () => {
    for (const [flags, dirs] of [
      [{ compress: true }, []],
      [{ dryRun: true }, []],
      [{}, ["/etc/x"]],
    ] as const) {
      const r = await withTarget(async (stream) => {
        const peer = new FrameChannel(stream);
        await peer.send(MessageType.hello, hello(flags, [...dirs]));
        return peer.receive();
      });
      expect(r.target).toMatchObject({ code: "E_PROTOCOL" });
      expect(r.resolved()).toBe(0);
      expect(sha256(r.path)).toBe(r.before);
    }
  });

  it("refuses copy messages during a probe, with nothing written", async () => {
    const r = await withTarget(async (stream) => {
      const peer = new FrameChannel(stream);
      await peer.send(MessageType.hello, hello());
      await peer.receive();
      await peer.send(MessageType.zeroRun, codecs.zeroRun.encode({ firstBlock: 0, count: 1 }));
      return peer.receive();
    });
    expect(r.target).toMatchObject({ code: "E_PROTOCOL", message: expect.stringMatching(/during a probe/) });
    expect(sha256(r.path)).toBe(r.before);
    expect(r.state.saved).toHaveLength(0);
  });
});
