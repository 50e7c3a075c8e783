import { describe, expect, it } from "vitest";
import { FineOffers } from "../../src/engine/fine-offers.js";
import { TransferStats } from "../../src/engine/stats.js";
import type { MessageType } from "../../src/protocol/messages.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const MiB = 1024 * 1024;
const never = new Promise<never>(() => {});

describe("two-level offers", () => {
  it("keep at most 32 MiB of offered blocks: a further offer waits until earlier pieces went out", async () => {
    const seed = testSeed("fine room");
    const sent: MessageType[] = [];
    const fine = new FineOffers(
      4 * MiB,
      false,
      new TransferStats(),
      async (type) => void sent.push(type),
      (e) => {
        throw e;
      },
    );
    // Nothing kept: even an offer over the limit goes at once.
    await fine.room(40 * MiB, never);
    await fine.offer(0, 1, seededBytes(20 * MiB, seed), 9n);
    let roomy = false;
    const waiting = fine.room(20 * MiB, never).then(() => {
      roomy = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(roomy).toBe(false); // 20 + 20 MiB would pass 32 MiB
    await fine.room(10 * MiB, never); // 30 MiB does not
    // The target needs the first of the 5 pieces: once it is on the wire, the 20 MiB are let go.
    fine.answer({ firstBlock: 0, count: 1, bitmap: Buffer.from([1]) });
    await waiting;
    expect(roomy).toBe(true);
    expect(sent.length).toBe(1);
  });
});

describe("two-level offers reuse their buffers", () => {
  it("each FINE_BLOCKS carries its own offer's pieces, though a later offer took an earlier one's buffer", async () => {
    const seed = testSeed("fine reuse");
    const bodies: Buffer[] = [];
    const fine = new FineOffers(
      4096,
      false,
      new TransferStats(),
      async (_type, body) => void bodies.push(Buffer.concat(body)),
      (e) => {
        throw e;
      },
    );
    const blocks = [0, 1, 2, 3].map((i) => seededBytes(65536, seed + i));
    const answer = (first: number) => fine.answer({ firstBlock: first, count: 1, bitmap: Buffer.from([0b100, 0]) });
    await fine.offer(0, 1, blocks[0] as Buffer, 9n);
    await fine.offer(1, 1, blocks[1] as Buffer, 9n);
    answer(0); // piece 2 of the first offer; an offer made at once must not take its buffer yet
    await fine.offer(2, 1, blocks[2] as Buffer, 9n);
    while (bodies.length < 1) await new Promise((r) => setImmediate(r));
    await fine.offer(3, 1, blocks[3] as Buffer, 9n); // takes the first offer's buffer
    answer(1);
    answer(2);
    answer(3);
    await fine.drained(never);
    expect(bodies.length).toBe(4);
    bodies.forEach((body, i) => {
      const piece = (blocks[i] as Buffer).subarray(2 * 4096, 3 * 4096);
      expect(body.includes(piece), `offer ${i}`).toBe(true);
    });
  });
});
