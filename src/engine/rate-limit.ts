/**
 * A byte-rate limit (--bwlimit): each send is scheduled at the time the
 * previous bytes would have taken at `bytesPerSecond`; a sender that falls
 * behind may catch up by at most `burstSeconds` worth of bytes.
 */
export interface Clock {
  now(): number; // milliseconds
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class RateLimiter {
  readonly #bytesPerMs: number;
  readonly #burstMs: number;
  readonly #clock: Clock;
  #next: number | undefined;

  constructor(bytesPerSecond: number, clock: Clock = realClock, burstSeconds = 0.25) {
    this.#bytesPerMs = bytesPerSecond / 1000;
    this.#burstMs = burstSeconds * 1000;
    this.#clock = clock;
  }

  /** Waits until `bytes` more may be sent. */
  async take(bytes: number): Promise<void> {
    const now = this.#clock.now();
    const next = Math.max(this.#next ?? now, now - this.#burstMs);
    this.#next = next + bytes / this.#bytesPerMs;
    if (next > now) await this.#clock.sleep(next - now);
  }
}
