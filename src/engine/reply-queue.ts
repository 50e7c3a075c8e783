/** Frames that arrive on the listener's loop, handed in order to whoever waits for the next one. */
export class ReplyQueue {
  readonly #ready: Buffer[] = [];
  readonly #waiting: ((body: Buffer) => void)[] = [];

  push(body: Buffer): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) waiter(body);
    else this.#ready.push(body);
  }

  next(): Promise<Buffer> {
    const body = this.#ready.shift();
    if (body !== undefined) return Promise.resolve(body);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}
