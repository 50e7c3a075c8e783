/**
 * The one wake-up primitive of both roles: a waiter re-checks its condition
 * after each wake(), so any number may wait at once and none is dropped (a
 * condition variable without the mutex: JavaScript has one thread).
 */
export class Wakeup {
  #waiters: Array<() => void> = [];

  /** Resolves at the next wake(); rejects if `failed` does first. */
  wait(failed?: Promise<never>): Promise<void> {
    const woken = new Promise<void>((resolve) => this.#waiters.push(resolve));
    return failed === undefined ? woken : Promise.race([woken, failed]);
  }

  wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
