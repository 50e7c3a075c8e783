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
