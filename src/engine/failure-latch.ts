/**
 * Keeps the first failure of a role's concurrent parts (its peer's reader,
 * its digest stream, its offer answers): that one is the reason reported,
 * not the broken pipe or the aborted wait that follow it.
 */
import { BlockferryError } from "../errors.js";

export function asBlockferryError(e: unknown): BlockferryError {
  return e instanceof BlockferryError ? e : new BlockferryError("E_INTERNAL", String(e), { cause: e });
}

export class FailureLatch {
  #failure: BlockferryError | undefined;
  #reject: (e: BlockferryError) => void = () => {};
  readonly #failed: Promise<never>;

  constructor() {
    this.#failed = new Promise<never>((_, reject) => (this.#reject = reject));
    this.#failed.catch(() => {}); // observed through failed(); never unhandled
  }

  get failure(): BlockferryError | undefined {
    return this.#failure;
  }

  /** Records `e` unless a failure came first; later ones are dropped. */
  fail(e: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = asBlockferryError(e);
    this.#reject(this.#failure);
  }

  /** Rejects as soon as something failed (one promise, however often asked). */
  failed(): Promise<never> {
    return this.#failed;
  }

  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** The first failure if there was one, else `e`. */
  explain(e: unknown): unknown {
    return this.#failure ?? e;
  }
}
