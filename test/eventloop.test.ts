import { describe, expect, it } from "vitest";
import { allocAligned, digestBlocks } from "../src/native/index.js";

describe("the event loop keeps turning during native work", () => {
  it("runs timers and immediates while a 1 GiB batch is hashed", async () => {
    const data = allocAligned(1 << 30);
    data.fill(0x5a); // not zero: every block is hashed in full
    let turns = 0;
    let running = true;
    const spin = () => {
      turns++;
      if (running) setImmediate(spin);
    };
    let timerFired = false;
    const timer = setTimeout(() => {
      timerFired = true;
    }, 5);
    setImmediate(spin);
    const result = await digestBlocks(data, 4096, 1n);
    running = false;
    clearTimeout(timer);
    expect(result.digests.length).toBe(((1 << 30) / 4096) * 16);
    // Hashing on the main thread would allow no turn until it finished.
    expect(timerFired).toBe(true);
    expect(turns).toBeGreaterThan(100);
  });
});
