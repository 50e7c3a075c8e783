/**
 * The target's side of the two-level comparison, driven by a scripted
 * source: offers are answered behind the receive loop, and acknowledgements
 * go as far as the oldest offer still awaiting its pieces.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { Fingerprint, foldBatch } from "../../src/engine/fingerprint.js";
import { runTarget } from "../../src/engine/target.js";
import { digestBlocks, openVolume } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MessageType, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";
import { encodeBlocks } from "../fuzz/blocks.js";
import { Inbox } from "../fuzz/inbox.js";
import { MemoryStateStore, synced } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const BLOCK = 65536;
const FINE = 4096;
const SIZE = 32 << 20;
/** The target's checkpoint interval (its smallest: 16 MiB), in blocks. */
const INTERVAL_BYTES = 16 << 20;
const INTERVAL = INTERVAL_BYTES / BLOCK;

/** The fingerprint of blocks [first, first + count) of `bytes`, as both sides fold it. */
async function sumOf(bytes: Buffer, first: number, count: number, seed: bigint): Promise<Buffer> {
  const part = bytes.subarray(first * BLOCK, (first + count) * BLOCK);
  const { digests } = await digestBlocks(part, BLOCK, seed);
  const sum = new Fingerprint();
  sum.add(await foldBatch(digests, count, first, seed));
  return sum.toBuffer();
}

it("acknowledges up to the oldest offer awaiting its pieces, not only once none does", async () => {
  const seed = testSeed("fine-answers");
  const held = seededBytes(SIZE, seed);
  const path = join(scratch.dir, "t.img");
  writeFileSync(path, held);
  const pair = memoryPair();
  const source = new FrameChannel(pair.a);
  const inbox = new Inbox(source);
  const target = runTarget({
    channel: new FrameChannel(pair.b),
    checkpointBytes: INTERVAL_BYTES,
    resolve: async () => ({
      volume: await openVolume(path, { write: true }),
      state: new MemoryStateStore(),
      identity: "t",
      describe: "t",
      stamp: async () => "t",
    }),
  });
  await source.send(
    MessageType.hello,
    codecs.hello.encode({
      version: PROTOCOL_VERSION,
      targetName: "t",
      sourceSize: SIZE,
      blockSize: BLOCK,
      flags: { compress: false, full: false, verify: false, dryRun: false },
      sourceId: "script",
      cacheGeneration: 0,
      cacheFingerprint: Buffer.alloc(16),
      fineSize: FINE,
      dirs: [],
    }),
  );
  expect(await inbox.until(() => inbox.welcome !== undefined)).toBe(true);
  expect(inbox.welcome?.compare).toBe(true);
  expect(inbox.welcome?.checkpointBlocks).toBe(INTERVAL);
  const digestSeed = inbox.welcome?.seed ?? 0n;
  await source.send(MessageType.start, codecs.start.encode({ fromBlock: 0 }));
  expect(await inbox.until(() => inbox.covered >= SIZE / BLOCK, 10_000)).toBe(true);

  // Offer B (block 0) differs in every piece; past a whole interval of the same blocks, offer A.
  const offer = (firstBlock: number) =>
    source.send(
      MessageType.fineOffer,
      codecs.fineOffer.encode({ firstBlock, count: 1, digests: Buffer.alloc((BLOCK / FINE) * 16, 7) }),
    );
  const a = INTERVAL + 1;
  await offer(0);
  await source.send(MessageType.sameRun, codecs.sameRun.encode({ firstBlock: 1, count: INTERVAL }));
  await offer(a);
  expect(await inbox.until(() => inbox.needs.length === 2)).toBe(true);
  expect(inbox.acks).toEqual([]); // B's block is not in yet: nothing can be acknowledged

  // B's pieces (the bytes the target holds, so its copy stays as it was): blocks before A are all in.
  const pieces = (block: number) => encodeBlocks(held.subarray(block * BLOCK, (block + 1) * BLOCK), FINE, block);
  await source.send(MessageType.fineBlocks, [await pieces(0)]);
  expect(await inbox.until(() => inbox.acks.length > 0)).toBe(true);
  expect(inbox.acks[0]?.blocksDone).toBe(a);
  expect(inbox.acks[0]?.fingerprint).toEqual(await sumOf(held, 0, a, digestSeed));

  // The rest, honestly: the copy completes and is verified.
  await source.send(MessageType.fineBlocks, [await pieces(a)]);
  const rest = SIZE / BLOCK - a - 1;
  await source.send(MessageType.sameRun, codecs.sameRun.encode({ firstBlock: a + 1, count: rest }));
  const whole = await sumOf(held, 0, SIZE / BLOCK, digestSeed);
  const end = { blockCount: SIZE / BLOCK, fingerprint: whole, replaced: Buffer.alloc(16) };
  await source.send(MessageType.end, codecs.end.encode(end));
  expect(await inbox.until(() => inbox.done !== undefined)).toBe(true);
  expect(inbox.done?.verified).toBe(true);
  await source.end();
  const result = synced(await target);
  expect(result.fingerprint).toBe(whole.toString("hex"));
});
