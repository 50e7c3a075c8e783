/**
 * --with-dir: directories sent over the sync's own channel after the volume is
 * confirmed (DONE), each placed on the receiving host atomically.
 * (Interface fixed here; the implementation is being written.)
 */
import { BlockferryError } from "../errors.js";
import type { FrameChannel } from "../protocol/frames.js";
import type { MessageType } from "../protocol/messages.js";

/** The source's side of the channel after DONE: sends go through the rate limit; replies are DIR_DONE bodies. */
export interface DirChannel {
  send(type: MessageType, body: Buffer[]): Promise<void>;
  /** The body of the target's next DIR_DONE (rejects if the target fails). */
  reply(): Promise<Buffer>;
}

/** `--with-dir SRC[:DEST]`: DEST defaults to SRC. */
export interface DirSpec {
  source: string;
  dest: string;
}

export interface DirReport {
  dest: string;
  entries: number;
  bytes: number;
}

export async function sendDirectories(
  _io: DirChannel,
  _dirs: DirSpec[],
  _log: (line: string) => void,
): Promise<DirReport[]> {
  throw new BlockferryError("E_UNSUPPORTED", "--with-dir is not implemented yet");
}

export async function receiveDirectories(
  _channel: FrameChannel,
  _dests: string[],
  _log: (line: string) => void,
): Promise<DirReport[]> {
  throw new BlockferryError("E_UNSUPPORTED", "--with-dir is not implemented yet");
}
