/**
 * Shared plumbing of the fuzz properties: case counts (scaled for a long run
 * by BLOCKFERRY_FUZZ_SCALE), a printed seed per property (replayed with
 * BLOCKFERRY_TEST_SEED), a per-case time limit, and one summary line per
 * property for the results table.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { BlockferryError, type ErrorCode } from "../../src/errors.js";
import { testSeed } from "../helpers/random.js";

const scale = Number(process.env.BLOCKFERRY_FUZZ_SCALE ?? "1");
if (!(scale > 0))
  throw new Error(`BLOCKFERRY_FUZZ_SCALE=${process.env.BLOCKFERRY_FUZZ_SCALE}: expected a number above 0`);

/** `base` cases, times the scale. */
export const runs = (base: number): number => Math.max(1, Math.round(base * scale));

/** A vitest time limit for a property that takes about `ms` at scale 1 (generous: CI machines vary). */
export const budget = (ms: number): number => Math.round(ms * 4 * Math.max(1, scale));

/** `usual`, and `rare` once in `odds` + 1. */
export const often = <A, B>(usual: fc.Arbitrary<A>, rare: fc.Arbitrary<B>, odds = 8): fc.Arbitrary<A | B> =>
  fc.oneof({ weight: odds, arbitrary: usual }, { weight: 1, arbitrary: rare });

const summary: string[] = [];

/** Checks `property` for `numRuns` cases with a printed seed, and records its summary line. */
export async function check<T>(
  name: string,
  property: fc.IProperty<T> | fc.IAsyncProperty<T>,
  numRuns: number,
): Promise<void> {
  const seed = testSeed(`fuzz ${name}`);
  const details = await fc.check(property, { seed, numRuns });
  if (!details.failed) {
    summary.push(`[fuzz] ${name}: ${details.numRuns} cases, 0 failures`);
    return;
  }
  summary.push(`[fuzz] ${name}: ${details.numRuns} cases, 1 failure (seed ${seed})`);
  throw new Error(fc.defaultReportMessage(details), { cause: details.errorInstance });
}

/** Prints the summary lines of this file's properties (call in afterAll). */
export function printSummary(): void {
  if (summary.length > 0) console.log(summary.join("\n"));
  summary.length = 0;
}

/** Settles `p`, or fails the case if it takes longer than `ms` (a hang). */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `e` must be a BlockferryError with one of `codes`; anything else (TypeError, RangeError...) is a bug. */
export function expectRefusal(e: unknown, codes: readonly ErrorCode[]): asserts e is BlockferryError {
  if (!(e instanceof BlockferryError)) {
    throw new Error(`expected a BlockferryError (${codes.join(", ")}), got ${String(e)}`, { cause: e });
  }
  expect(codes).toContain(e.code);
}

/** Runs `f`; returns its value, or the BlockferryError it threw if its code is one of `codes`. */
export function outcome<T>(codes: readonly ErrorCode[], f: () => T): { value: T } | { error: BlockferryError } {
  try {
    return { value: f() };
  } catch (e) {
    expectRefusal(e, codes);
    return { error: e };
  }
}

/** `bytes` cut at `cuts` (taken modulo its length): how a stream may arrive. */
export function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length)).filter((c) => c.length > 0);
}
