/**
 * Reads what the other side sends while this side is busy sending: routes
 * each frame to a handler and keeps the first failure, so that a peer's
 * ERROR message is what gets reported, not the broken pipe that follows it.
 */
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { Frame, FrameChannel } from "../protocol/frames.js";
import { MessageType } from "../protocol/messages.js";
import { FailureLatch } from "./failure-latch.js";

export type FrameHandler = (type: MessageType, body: Buffer) => void | Promise<void>;

export class PeerListener extends FailureLatch {
  readonly finished: Promise<void>;

  /**
   * `endExpected` says whether the peer may close now; a close at any other
   * time is a failure. A failure tears the channel down, so that a send
   * waiting for the peer to read is released too.
   */
  constructor(channel: FrameChannel, handle: FrameHandler, what: string, endExpected: () => boolean) {
    super();
    this.finished = (async () => {
      try {
        for (;;) {
          const frame = await channel.receive();
          if (frame === undefined) {
            if (endExpected()) return;
            throw new BlockferryError("E_NETWORK", `the ${what} closed the connection before the end of the copy`);
          }
          if (frame.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), what);
          await handle(frame.type, frame.body);
        }
      } catch (e) {
        this.fail(e);
        channel.destroy();
      }
    })();
  }
}

/** The peer's next frame (undefined: it closed cleanly); its ERROR is thrown as its failure, with its reason. */
export async function fromPeer(channel: FrameChannel, what: string): Promise<Frame | undefined> {
  const frame = await channel.receive();
  if (frame?.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), what);
  return frame;
}

export function remoteError(m: { code: string; message: string }, what: string): BlockferryError {
  return new BlockferryError(m.code as BlockferryError["code"], `${what}: ${m.message}`);
}

export function unexpected(type: number, when: string): BlockferryError {
  return protocolError(`unexpected message type ${type} ${when}`);
}

/**
 * Tells the peer why this side gives up, so that it reports the reason and
 * not a broken pipe: ERROR, our end of the stream, then a bounded wait for
 * the peer to close (a reset while it still sends could drop the ERROR).
 */
export async function tellPeer(channel: FrameChannel, e: unknown, waitMs = 1000): Promise<void> {
  const error = e instanceof BlockferryError ? e : new BlockferryError("E_INTERNAL", String(e));
  const body = codecs.error.encode({ code: error.code, message: error.message });
  const told = (async () => {
    await channel.send(MessageType.error, body);
    await channel.end();
    await channel.closed(waitMs);
  })();
  await Promise.race([told, new Promise((r) => setTimeout(r, waitMs).unref())]).catch(() => {});
}
