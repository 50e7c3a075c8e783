/**
 * Soak: repeated delta syncs with random changes between them (see
 * soak-run.ts), every one checked byte for byte, and memory that must not
 * grow with the number of syncs. BLOCKFERRY_SOAK_ITERATIONS sets the count
 * (default 12 here; the long run in test/FAULTS.md used 60).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../helpers/files.js";
import { testSeed } from "../helpers/random.js";

const ITERATIONS = Number(process.env.BLOCKFERRY_SOAK_ITERATIONS ?? 12);
const scratch = scratchDir();
afterAll(() => scratch.remove());

interface Round {
  round: number;
  changed: number;
  identical: boolean;
  heapUsed: number;
  rss: number;
  arrayBuffers: number;
}

describe("soak", () => {
  it(`${ITERATIONS} delta syncs with random changes: each identical, memory flat`, () => {
    const seed = testSeed("soak");
    const out = execFileSync(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        join(import.meta.dirname, "soak-run.ts"),
        scratch.dir,
        String(ITERATIONS),
        String(seed),
      ],
      { encoding: "utf8", maxBuffer: 16 << 20, timeout: 30 * 60_000 },
    );
    const rounds = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Round);
    expect(rounds).toHaveLength(ITERATIONS);
    expect(rounds.every((r) => r.identical)).toBe(true);
    // After warm-up (caches, pools, JIT), memory must stay where it was. The heap and
    // buffers are the leak signal; RSS moves with the allocator's per-thread arenas
    // (16 pool threads), so it is only held to not rising from one half to the next.
    const warm = rounds[Math.min(3, rounds.length - 1)] as Round;
    const last = rounds.at(-1) as Round;
    const half = Math.floor(rounds.length / 2);
    const peak = (rs: Round[]) => Math.max(...rs.map((r) => r.rss));
    const [early, late] = [peak(rounds.slice(2, half)), peak(rounds.slice(half))];
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    console.log(
      `[faults] soak: ${ITERATIONS} syncs identical; heap ${mib(warm.heapUsed)} -> ${mib(last.heapUsed)} MiB, ` +
        `array buffers ${mib(warm.arrayBuffers)} -> ${mib(last.arrayBuffers)} MiB, peak rss ${mib(early)} -> ${mib(late)} MiB`,
    );
    expect(last.heapUsed - warm.heapUsed).toBeLessThan(8 * 2 ** 20);
    expect(last.arrayBuffers).toBeLessThan(16 * 2 ** 20);
    expect(late - early).toBeLessThan(64 * 2 ** 20);
  });
});
