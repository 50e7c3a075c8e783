import { expect } from "vitest";
import { BlockferryError } from "../../src/errors.js";

/** The BlockferryError `p` rejects with (the test fails if it resolves or throws anything else). */
export async function failure(p: Promise<unknown>): Promise<BlockferryError> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(BlockferryError);
  return e as BlockferryError;
}
