import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runSource } from "../../src/engine/source.js";
import type { TargetState } from "../../src/engine/state.js";
import { runTarget } from "../../src/engine/target.js";
import { digestBlocks, openVolume } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MessageType, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";
import { copyInProcess, MemoryStateStore, writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

/** Fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms = 20_000): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)),
  ]);
}

function welcomeFor(sourceBytes: number, checkpointBlocks = 1024, compare = false) {
  return codecs.welcome.encode({
    version: PROTOCOL_VERSION,
    targetSize: sourceBytes,
    sectorSize: 512,
    isBlockDevice: false,
    compare,
    cached: false,
    seed: 1n,
    resumeBlock: 0,
    resumeFingerprint: Buffer.alloc(16),
    checkpointBlocks,
    generation: 1,
    cacheRefusal: "",
  });
}

/** A source against a scripted fake target; returns how the source ended and the link. */
async function sourceAgainst(script: (target: FrameChannel) => Promise<void>, bytes = 64 * 1024 * 1024, fineSize = 0) {
  const path = join(scratch.dir, `fake-src-${bytes}.img`);
  writeFileSync(path, seededBytes(bytes, 9));
  const volume = await openVolume(path);
  const pair = memoryPair();
  const fake = new FrameChannel(pair.b);
  const source = runSource({
    volume,
    channel: new FrameChannel(pair.a),
    targetName: "t",
    sourceId: "s",
    blockSize: 65536,
    fineSize,
  });
  await script(fake).catch(() => {});
  const outcome = await within(
    source.then(
      () => undefined,
      (e: unknown) => e,
    ),
  );
  await volume.close();
  return { error: outcome, pair };
}

describe("failures end both sides promptly, with the real reason", () => {
  it("a target that fails mid-copy stops the source with its error (no hang)", async () => {
    const source = join(scratch.dir, "f-src.img");
    const target = join(scratch.dir, "f-dst.img");
    writeMixedImage(source, 96 * 1024 * 1024, 41);
    const state = new MemoryStateStore();
    let saves = 0;
    const failing = Object.assign(Object.create(state), {
      save: async (s: TargetState) => {
        if (++saves === 2) throw Object.assign(new Error("disk full"), { code: "ENOSPC" });
        return state.save(s);
      },
      load: () => state.load(),
    });
    const r = await within(copyInProcess({ source, target, state: failing, target_: { checkpointBytes: 16 << 20 } }));
    expect(r.source.status).toBe("rejected");
    expect(r.target.status).toBe("rejected");
    expect(String((r.source as PromiseRejectedResult).reason.message)).toMatch(/disk full/);
  });

  it("a target that fails while offers await its answer stops the source with its error (no hang)", async () => {
    const { error } = await sourceAgainst(
      async (t) => {
        await t.receive(); // HELLO
        await t.send(MessageType.welcome, welcomeFor(64 * 1024 * 1024, 4096, true));
        await t.receive(); // START
        // Every other block differs from the source's (seed 1 in WELCOME): each is offered on its own.
        const { digests } = await digestBlocks(seededBytes(64 * 1024 * 1024, 9), 65536, 1n);
        for (let b = 0; b < 1024; b += 2) digests[b * 16] = (digests[b * 16] ?? 0) ^ 1;
        await t.send(MessageType.digests, codecs.digests.encode({ firstBlock: 0, count: 1024, digests }));
        let offers = 0;
        while (offers < 4) {
          const frame = await t.receive();
          if (frame?.type === MessageType.fineOffer) offers++;
          // No FINE_NEED: the source's read-ahead buffers stay with the offers.
          if (frame === undefined) break;
        }
        await new Promise((r) => setTimeout(r, 200));
        await t.send(MessageType.error, codecs.error.encode({ code: "E_NO_SPACE", message: "disk full" }));
        await t.end();
      },
      64 * 1024 * 1024,
      4096,
    );
    expect(error).toMatchObject({ code: "E_NO_SPACE" });
  });

  it("a target that closes without a word is a network error, not a hang", async () => {
    const { error } = await sourceAgainst(async (t) => {
      await t.receive(); // HELLO
      await t.send(MessageType.welcome, welcomeFor(64 * 1024 * 1024));
      await t.receive(); // START
      await t.receive(); // one BLOCKS
      await t.end();
    });
    expect(error).toMatchObject({ code: "E_NETWORK" });
  });

  it("a bad WELCOME fails the source at once, and the link is torn down", async () => {
    const { error, pair } = await sourceAgainst(async (t) => {
      await t.receive();
      await t.send(MessageType.welcome, welcomeFor(64 * 1024 * 1024, 1)); // below one batch
    });
    expect(error).toMatchObject({ code: "E_PROTOCOL" });
    expect(pair.a.destroyed).toBe(true);
  });

  it("a DONE before END is a protocol error", async () => {
    const { error } = await sourceAgainst(async (t) => {
      await t.receive();
      await t.send(MessageType.welcome, welcomeFor(64 * 1024 * 1024));
      await t.receive();
      await t.send(
        MessageType.done,
        codecs.done.encode({ fingerprint: Buffer.alloc(16), verified: true, targetReadBytes: 0, targetWriteMs: 0 }),
      );
    });
    expect(error).toMatchObject({ code: "E_PROTOCOL" });
  });

  it("an image that cannot grow to the source's size is refused and left as it was", async () => {
    const path = join(scratch.dir, "nogrow.img");
    writeFileSync(path, seededBytes(4 << 20, 3));
    const before = sha256(path);
    const pair = memoryPair();
    const state = new MemoryStateStore();
    const target = runTarget({
      channel: new FrameChannel(pair.b),
      resolve: async () => ({
        volume: await openVolume(path, { write: true }),
        state,
        identity: "x",
        describe: "x",
        stamp: async () => "x",
      }),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const peer = new FrameChannel(pair.a);
    await peer.send(
      MessageType.hello,
      codecs.hello.encode({
        version: PROTOCOL_VERSION,
        targetName: "x",
        sourceSize: 2 ** 52, // beyond what ext4 or xfs allow in one file
        blockSize: 65536,
        flags: { compress: false, full: false, verify: false, dryRun: false },
        sourceId: "huge",
        cacheGeneration: 0,
        cacheFingerprint: Buffer.alloc(16),
        fineSize: 0,
        dirs: [],
      }),
    );
    const reply = await peer.receive();
    expect(reply?.type).toBe(MessageType.error);
    expect(await within(target)).toMatchObject({ code: "E_TARGET_TOO_SMALL" });
    expect(statSync(path).size).toBe(4 << 20);
    expect(sha256(path)).toBe(before);
    expect(state.saved).toHaveLength(0);
  });

  it("a silent peer is given up after the idle timeout; pings keep a quiet link alive", async () => {
    const quiet = memoryPair();
    const liveness = { pingAfterMs: 50, idleTimeoutMs: 300 };
    const a = new FrameChannel(quiet.a, liveness);
    const b = new FrameChannel(quiet.b, liveness);
    const waiting = a.receive(); // a waits; b says nothing for a while, but pings
    await new Promise((r) => setTimeout(r, 800));
    expect(quiet.a.destroyed || quiet.b.destroyed).toBe(false);
    await b.send(MessageType.start, codecs.start.encode({ fromBlock: 7 }));
    expect(codecs.start.decode((await waiting)?.body ?? Buffer.alloc(0))).toEqual({ fromBlock: 7 });
    a.destroy();
    b.destroy();

    const mute = memoryPair();
    mute.b.on("error", () => {}); // this end has no channel to hear the reset
    const listener = new FrameChannel(mute.a, liveness); // the other end never reads nor writes
    await expect(within(listener.receive(), 5000)).rejects.toMatchObject({ code: "E_NETWORK" });
  });

  it("an interrupted copy is not resumed onto another volume", async () => {
    const source = join(scratch.dir, "id-src.img");
    const target = join(scratch.dir, "id-dst.img");
    writeMixedImage(source, 64 * 1024 * 1024, 42);
    const state = new MemoryStateStore();
    const first = await copyInProcess({
      source,
      target,
      state,
      cutAfterBytes: 40 << 20,
      target_: { checkpointBytes: 16 << 20 },
    });
    expect(first.source.status).toBe("rejected");
    const saved = state.last as TargetState;
    expect(saved.blocksDone).toBeGreaterThan(0);
    await state.save({ ...saved, targetId: "block:8:16:1000:another-disk" });
    const second = await copyInProcess({ source, target, state });
    if (second.source.status === "rejected") throw second.source.reason;
    expect(second.source.value.resumedFromBlock).toBe(0);
  });
});
