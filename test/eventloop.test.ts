import { describe, expect, it } from "vitest";
import { allocAligned, digestBlocks } from "../src/native/index.js";
import { FrameChannel } from "../src/protocol/frames.js";
import { MessageType } from "../src/protocol/messages.js";
import { memoryPair } from "../src/transport/memory.js";

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

describe("a sender of many frames lets the event loop turn", () => {
  it("turns at least every 32 frames, though each send settles at once (a night of short runs held the target's writes)", async () => {
    const pair = memoryPair();
    const channel = new FrameChannel(pair.a);
    let sent = 0;
    const seen = new Set<number>();
    let watching = true;
    const watch = () => {
      seen.add(sent);
      if (watching) setImmediate(watch);
    };
    watch();
    for (; sent < 320; sent++) await channel.send(MessageType.ping, []);
    watching = false;
    pair.b.on("error", () => {}); // the reset that destroying our end causes
    channel.destroy();
    // Turns came while the frames went, not only before and after.
    const between = [...seen].filter((n) => n > 0 && n < 320);
    expect(between.length).toBeGreaterThanOrEqual(8);
  });
});
