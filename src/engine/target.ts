/**
 * The target role's entry: reads HELLO, has the receiver resolve (and
 * authorize) the target it names, then either answers a probe (bench --to,
 * nothing written) or takes a sync (target-session.ts). Whatever fails is
 * sent to the source as ERROR, naming the target, and the copy's state
 * stops naming this process as its writer.
 */
import { BlockferryError } from "../errors.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { type Hello, MessageType, PROTOCOL_VERSION } from "../protocol/messages.js";
import { asBlockferryError } from "./failure-latch.js";
import { fromPeer, unexpected } from "./peer.js";
import { answerProbe, checkProbeHello } from "./probe-target.js";
import { TargetSession } from "./target-session.js";
import type { OpenedTarget, ProbeResult, TargetOptions, TargetResult } from "./target-types.js";

export { CHECKPOINT_BYTES } from "./target-session.js";
export type { OpenedTarget, ProbeResult, TargetOptions, TargetResolver, TargetResult } from "./target-types.js";

export async function runTarget(o: TargetOptions): Promise<TargetResult | ProbeResult> {
  const { channel } = o;
  let opened: OpenedTarget | undefined;
  try {
    const hello = await receiveHello(channel);
    if (hello.flags.probe) checkProbeHello(hello);
    opened = await o.resolve(hello);
    // bench --to: authorized and resolved as for a copy, then nothing written or recorded.
    if (hello.flags.probe) return await answerProbe(channel, hello, opened, o.stats, o.log);
    if (opened.volume.size < hello.sourceSize && opened.volume.info.isBlockDevice) {
      throw new BlockferryError(
        "E_TARGET_TOO_SMALL",
        `target ${opened.describe} is ${opened.volume.size} bytes, the source ${hello.sourceSize}`,
      );
    }
    const session = await TargetSession.open(o, hello, opened);
    return await session.run();
  } catch (e) {
    if (opened !== undefined) await leave(opened);
    const error = named(asBlockferryError(e), opened);
    await channel
      .send(MessageType.error, codecs.error.encode({ code: error.code, message: error.message }))
      .catch(() => {});
    await channel.end().catch(() => {});
    throw error;
  } finally {
    await opened?.volume.close();
  }
}

/** The volume's own failures (full, I/O error, read-only) say which target: the message reaches the source too. */
function named(e: BlockferryError, opened: OpenedTarget | undefined): BlockferryError {
  const own = ["E_NO_SPACE", "E_IO", "E_READ_ONLY", "E_ACCESS", "E_NO_MEMORY"].includes(e.code);
  if (opened === undefined || !own || e.message.includes(opened.describe)) return e;
  return new BlockferryError(e.code, `${opened.describe}: ${e.message}`, {
    errno: e.errno,
    op: e.op,
    offset: e.offset,
    cause: e,
  });
}

/** A failed sync no longer writes: the state stops naming this process (status then says "interrupted"). */
async function leave(opened: OpenedTarget): Promise<void> {
  try {
    const state = await opened.state.load();
    if (state?.writerPid !== process.pid) return;
    state.writerPid = undefined;
    await opened.state.save(state);
  } catch {
    // The state stays as it was: status may call a dead sync "running" until this process exits.
  }
}

async function receiveHello(channel: FrameChannel): Promise<Hello> {
  const frame = await fromPeer(channel, "source");
  if (frame === undefined) throw new BlockferryError("E_NETWORK", "the source closed the connection before HELLO");
  if (frame.type !== MessageType.hello) throw unexpected(frame.type, "instead of HELLO");
  const hello = codecs.hello.decode(frame.body);
  if (hello.version !== PROTOCOL_VERSION) {
    throw new BlockferryError(
      "E_VERSION",
      `the source speaks protocol version ${hello.version}; this receiver speaks version ${PROTOCOL_VERSION}`,
    );
  }
  return hello;
}
