import { describe, expect, it } from "vitest";
import { type Clock, RateLimiter } from "../../src/engine/rate-limit.js";

/** A clock that only moves when the limiter sleeps. */
function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

describe("--bwlimit", () => {
  it("holds a long run to the rate within 1%", async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(50 * 1024 * 1024, clock);
    let bytes = 0;
    for (let i = 0; i < 400; i++) {
      const n = 16 * 1024 * 1024 + (i % 7) * 4096;
      await limiter.take(n);
      bytes += n;
    }
    const rate = bytes / (clock.t / 1000);
    expect(Math.abs(rate / (50 * 1024 * 1024) - 1)).toBeLessThan(0.01);
  });

  it("lets a slow sender catch up by at most the burst", async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1000, clock, 0.5);
    await limiter.take(1000); // t = 0: one second of budget used
    clock.t += 10_000; // the sender was busy elsewhere for 10 s
    const before = clock.t;
    for (let i = 0; i < 10; i++) await limiter.take(500); // 5 s worth
    // Ten sends start over at least 5 s, less the 0.5 s burst and the last send's own 0.5 s.
    expect(clock.t - before).toBeGreaterThanOrEqual(4000);
    expect(clock.t - before).toBeLessThan(5000);
  });
});
