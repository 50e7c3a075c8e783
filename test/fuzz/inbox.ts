/**
 * The hostile source's ear: reads everything the target sends (so that the
 * target never blocks on a full pipe) and keeps what the source's next move
 * may depend on: WELCOME, how far DIGESTS reached, FINE_NEED bitmaps, ACKs, DONE.
 */

import { codecs } from "../../src/protocol/codecs.js";
import type { FrameChannel } from "../../src/protocol/frames.js";
import { type Ack, type Done, type FineNeed, MessageType, type Welcome } from "../../src/protocol/messages.js";

export class Inbox {
  welcome: Welcome | undefined;
  /** Blocks before this one have had their DIGESTS. */
  covered = 0;
  needs: FineNeed[] = [];
  acks: Ack[] = [];
  done: Done | undefined;
  dirDones = 0;
  ended = false;
  readonly finished: Promise<void>;
  #wake: Array<() => void> = [];

  constructor(channel: FrameChannel) {
    this.finished = (async () => {
      try {
        for (;;) {
          const frame = await channel.receive();
          if (frame === undefined) break;
          this.#take(frame.type, frame.body);
          this.#notify();
        }
      } catch {
        // The target gave up or closed: how it ended is runTarget's result, not ours.
      } finally {
        this.ended = true;
        this.#notify();
      }
    })();
  }

  #take(type: number, body: Buffer): void {
    if (type === MessageType.welcome) this.welcome = codecs.welcome.decode(body);
    else if (type === MessageType.digests) {
      const d = codecs.digests.decode(body);
      this.covered = Math.max(this.covered, d.firstBlock + d.count);
    } else if (type === MessageType.fineNeed) this.needs.push(codecs.fineNeed.decode(body));
    else if (type === MessageType.ack) this.acks.push(codecs.ack.decode(body));
    else if (type === MessageType.done) this.done = codecs.done.decode(body);
    else if (type === MessageType.dirDone) this.dirDones++;
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }

  /**
   * Waits until `ready()` or the target's end. The time limit only keeps a
   * case from stalling if the script waits for what will never come; it is
   * far below the limit that calls the target hung.
   */
  async until(ready: () => boolean, ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!ready() && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return ready();
  }
}
