import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runTarget } from "../../src/engine/target.js";
import { BlockKind, openVolume } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MessageType, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";
import { MemoryStateStore } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, seededInts, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const hello = (over: Partial<Parameters<typeof codecs.hello.encode>[0]> = {}) =>
  codecs.hello.encode({
    version: PROTOCOL_VERSION,
    targetName: "t",
    sourceSize: 1 << 20,
    blockSize: 65536,
    flags: { compress: false, full: false, verify: false, dryRun: false },
    sourceId: "hostile",
    cacheGeneration: 0,
    cacheFingerprint: Buffer.alloc(16),
    fineSize: 0,
    dirs: [],
    ...over,
  });

/** Runs a target against raw bytes from a misbehaving peer; returns how it ended. */
async function attack(send: (peer: FrameChannel, raw: import("node:stream").Duplex) => Promise<void>) {
  const target = join(scratch.dir, "t.img");
  const before = seededBytes(1 << 20, 1);
  writeFileSync(target, before);
  const state = new MemoryStateStore();
  const pair = memoryPair();
  const peer = new FrameChannel(pair.a);
  const result = runTarget({
    channel: new FrameChannel(pair.b),
    resolve: async () => ({
      volume: await openVolume(target, { write: true }),
      state,
      identity: "t",
      describe: "t",
      stamp: async () => "t",
    }),
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  await send(peer, pair.a).catch(() => {});
  pair.a.end();
  const error = await result;
  return { error, unchanged: readFileSync(target).equals(before), state };
}

async function welcome(peer: FrameChannel) {
  const frame = await peer.receive();
  expect(frame?.type).toBe(MessageType.welcome);
}

describe("a target facing a hostile or broken source", () => {
  it("refuses garbage before the handshake, with nothing written", async () => {
    const seed = testSeed("garbage");
    for (let i = 0; i < 20; i++) {
      const r = await attack(async (_, raw) => {
        raw.write(seededBytes(1 + ((i * 37) % 300), seed + i));
      });
      expect(r.error).toMatchObject({ code: expect.stringMatching(/^E_(PROTOCOL|NETWORK)$/) });
      expect(r.unchanged).toBe(true);
      expect(r.state.saved).toHaveLength(0);
    }
  });

  it("refuses a declared length beyond the cap without buffering it", async () => {
    const r = await attack(async (_, raw) => {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(0xffffffff, 0);
      header.writeUInt8(MessageType.hello, 4);
      raw.write(header);
    });
    expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
    expect(String((r.error as Error).message)).toMatch(/declares/);
  });

  it("refuses another protocol version with E_VERSION", async () => {
    const r = await attack(async (peer) => {
      await peer.send(MessageType.hello, hello({ version: 9 }));
    });
    expect(r.error).toMatchObject({ code: "E_VERSION" });
    expect(r.unchanged).toBe(true);
  });

  it("refuses a HELLO flag it does not know, naming it, as a receiver older than the flag does (bit 64, tracked)", async () => {
    // The flags' byte: where a HELLO with compress set differs from one without.
    const plain = Buffer.concat(hello());
    const compress = Buffer.concat(hello({ flags: { compress: true, full: false, verify: false, dryRun: false } }));
    const at = plain.findIndex((byte, i) => byte !== compress[i]);
    expect(compress[at]).toBe((plain[at] ?? 0) + 1);
    plain[at] = 128; // the next bit no receiver knows yet
    const r = await attack(async (peer) => {
      await peer.send(MessageType.hello, [plain]);
    });
    expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
    expect(String((r.error as Error).message)).toMatch(/HELLO: unknown flags 128/);
    expect(r.unchanged).toBe(true);
    expect(r.state.saved).toHaveLength(0);
  });

  it("refuses blocks outside the volume, out of order, or before START", async () => {
    const cases: Array<(peer: FrameChannel) => Promise<void>> = [
      async (peer) => {
        await peer.send(MessageType.hello, hello());
        await welcome(peer);
        await peer.send(MessageType.zeroRun, codecs.zeroRun.encode({ firstBlock: 0, count: 1 }));
      },
      async (peer) => {
        await peer.send(MessageType.hello, hello());
        await welcome(peer);
        await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
        await peer.send(MessageType.zeroRun, codecs.zeroRun.encode({ firstBlock: 10, count: 100 }));
      },
      async (peer) => {
        await peer.send(MessageType.hello, hello());
        await welcome(peer);
        await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 5 }));
      },
      async (peer) => {
        await peer.send(MessageType.hello, hello());
        await welcome(peer);
        await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
        await peer.send(MessageType.zeroRun, codecs.zeroRun.encode({ firstBlock: 0, count: 17 })); // 16 blocks exist
      },
    ];
    for (const send of cases) {
      const r = await attack(send);
      expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
      expect(r.unchanged || r.state.saved.at(-1)?.complete === false).toBe(true);
      expect(r.state.saved.every((s) => !s.complete)).toBe(true);
    }
  });

  it("refuses mangled BLOCKS messages and never marks the copy complete", async () => {
    const seed = testSeed("mangled blocks");
    const pick = seededInts(seed);
    for (let i = 0; i < 30; i++) {
      const r = await attack(async (peer) => {
        await peer.send(MessageType.hello, hello());
        await welcome(peer);
        await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
        const body = Buffer.concat(
          codecs.blocks.encode({
            firstBlock: 0,
            kinds: Uint8Array.of(1, 0),
            sizes: Uint32Array.of(100, 65536),
            payload: [seededBytes(100 + 65536, seed + i)],
          }),
        );
        const at = pick(body.length);
        body[at] = (body[at] ?? 0) ^ (1 + pick(255)); // one byte changed anywhere
        await peer.send(MessageType.blocks, [body]);
        await peer.send(
          MessageType.end,
          codecs.end.encode({ blockCount: 16, fingerprint: Buffer.alloc(16), replaced: Buffer.alloc(16) }),
        );
      });
      expect(r.error).toMatchObject({ code: expect.stringMatching(/^E_(PROTOCOL|CORRUPT|NETWORK|VERIFY)$/) });
      expect(r.state.saved.every((s) => !s.complete)).toBe(true);
    }
  });

  it("refuses SAME_RUN in copy mode", async () => {
    // --full: copy mode, so the source may not claim the target holds anything.
    const r = await attack(async (peer) => {
      await peer.send(
        MessageType.hello,
        hello({ flags: { compress: false, full: true, verify: false, dryRun: false } }),
      );
      await welcome(peer);
      await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
      await peer.send(MessageType.sameRun, codecs.sameRun.encode({ firstBlock: 0, count: 16 }));
    });
    expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
    expect(String((r.error as Error).message)).toMatch(/outside compare mode/);
    expect(r.state.saved.every((s) => !s.complete)).toBe(true);
  });

  for (const [mode, full] of [
    ["copy", true],
    ["compare", false],
  ] as const) {
    it(`refuses BLOCK_RUNS in ${mode} mode (its gaps are blocks the cache says the target holds)`, async () => {
      const r = await attack(async (peer) => {
        await peer.send(MessageType.hello, hello({ flags: { compress: false, full, verify: false, dryRun: false } }));
        await welcome(peer);
        await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
        const body = codecs.blockRuns.encode({
          runs: [
            { first: 0, count: 1 },
            { first: 3, count: 1 },
          ],
          kinds: Uint8Array.of(BlockKind.raw, BlockKind.raw),
          sizes: Uint32Array.of(65536, 65536),
          payload: [seededBytes(2 * 65536, 9)],
        });
        await peer.send(MessageType.blockRuns, body);
      });
      expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
      expect(String((r.error as Error).message)).toMatch(/type 25 outside a cached comparison/);
      // A copy may have started over on the image; a comparison writes nothing before its blocks.
      if (mode === "compare") expect(r.unchanged).toBe(true);
      expect(r.state.saved.every((s) => !s.complete)).toBe(true);
    });
  }

  it("an early END to a comparing target is refused at once", async () => {
    const r = await attack(async (peer) => {
      await peer.send(MessageType.hello, hello());
      await welcome(peer); // the target holds data: compare mode, its digests start streaming
      await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
      await peer.send(
        MessageType.end,
        codecs.end.encode({ blockCount: 16, fingerprint: Buffer.alloc(16), replaced: Buffer.alloc(16) }),
      );
    });
    expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
    expect(String((r.error as Error).message)).toMatch(/END after block 0/);
  });

  describe("two-level comparison messages out of place", () => {
    const start = async (peer: FrameChannel, over: Parameters<typeof hello>[0] = {}) => {
      await peer.send(MessageType.hello, hello({ fineSize: 4096, ...over }));
      await welcome(peer);
      await peer.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
    };
    const cases: Array<[string, (peer: FrameChannel) => Promise<void>, RegExp]> = [
      [
        "a FINE_OFFER in copy mode",
        async (peer) => {
          await start(peer, { flags: { compress: false, full: true, verify: false, dryRun: false } });
          await peer.send(
            MessageType.fineOffer,
            codecs.fineOffer.encode({ firstBlock: 0, count: 1, digests: Buffer.alloc(256) }),
          );
        },
        /outside a two-level comparison/,
      ],
      [
        "FINE_BLOCKS never asked for",
        async (peer) => {
          await start(peer);
          const body = codecs.blocks.encode({
            firstBlock: 0,
            kinds: Uint8Array.of(BlockKind.raw),
            sizes: Uint32Array.of(4096),
            payload: [seededBytes(4096, 5)],
          });
          await peer.send(MessageType.fineBlocks, body);
        },
        /not as asked/,
      ],
      [
        "a FINE_OFFER with the wrong number of digests",
        async (peer) => {
          await start(peer);
          await peer.send(
            MessageType.fineOffer,
            codecs.fineOffer.encode({ firstBlock: 0, count: 2, digests: Buffer.alloc(16 * 17) }),
          );
        },
        /17 digests for 32 pieces/,
      ],
      [
        "a fine size that is not smaller than the block",
        async (peer) => {
          await peer.send(MessageType.hello, hello({ fineSize: 65536 }));
        },
        /fine size 65536/,
      ],
      [
        "END while an offer awaits its pieces",
        async (peer) => {
          await start(peer, { sourceSize: 65536 });
          await peer.send(
            MessageType.fineOffer,
            codecs.fineOffer.encode({ firstBlock: 0, count: 1, digests: Buffer.alloc(256, 7) }),
          );
          await peer.send(
            MessageType.end,
            codecs.end.encode({ blockCount: 1, fingerprint: Buffer.alloc(16), replaced: Buffer.alloc(16) }),
          );
        },
        /END after block 1 of 1/,
      ],
    ];
    for (const [what, send, message] of cases) {
      it(`refuses ${what}, with nothing marked complete`, async () => {
        const r = await attack(send);
        expect(r.error).toMatchObject({ code: "E_PROTOCOL" });
        expect(String((r.error as Error).message)).toMatch(message);
        expect(r.state.saved.every((s) => !s.complete)).toBe(true);
      });
    }
  });
});
