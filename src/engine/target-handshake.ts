/**
 * The target's side of the handshake: WELCOME (what the plan decided), the
 * source's START, and the state recorded before the first write.
 */
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { FINGERPRINT_SIZE, type Hello, MessageType, PROTOCOL_VERSION, type Welcome } from "../protocol/messages.js";
import type { Fingerprint } from "./fingerprint.js";
import { fromPeer, unexpected } from "./peer.js";
import type { TargetState } from "./state.js";
import type { TargetPlan } from "./target-plan.js";
import type { OpenedTarget } from "./target-types.js";

export function welcomeOf(hello: Hello, opened: OpenedTarget, plan: TargetPlan, checkpointBlocks: number): Welcome {
  const { volume } = opened;
  const resume = plan.mode.kind === "copy" ? plan.mode : { fromBlock: 0, resumeSum: Buffer.alloc(FINGERPRINT_SIZE) };
  return {
    version: PROTOCOL_VERSION,
    targetSize: volume.info.isBlockDevice ? volume.size : Math.max(volume.size, hello.sourceSize),
    sectorSize: volume.info.sectorSize,
    isBlockDevice: volume.info.isBlockDevice,
    compare: plan.mode.kind === "compare",
    cached: plan.mode.kind === "cached",
    seed: plan.seed,
    resumeBlock: resume.fromBlock,
    resumeFingerprint: resume.resumeSum,
    checkpointBlocks,
    generation: plan.generation,
    cacheRefusal: plan.cacheRefusal,
  };
}

/** START: where the source begins, the resume point offered or 0 (it found its own copied part changed). */
export async function receiveStart(channel: FrameChannel, offered: number): Promise<number> {
  const frame = await fromPeer(channel, "source");
  if (frame === undefined) throw new BlockferryError("E_NETWORK", "the source closed the connection before START");
  if (frame.type !== MessageType.start) throw unexpected(frame.type, "instead of START");
  const { fromBlock } = codecs.start.decode(frame.body);
  if (fromBlock !== 0 && fromBlock !== offered) throw protocolError(`START at block ${fromBlock}, offered ${offered}`);
  return fromBlock;
}

export function initialState(
  hello: Hello,
  opened: OpenedTarget,
  plan: TargetPlan,
  saved: TargetState | undefined,
  fromBlock: number,
  fingerprint: Fingerprint,
): TargetState {
  const now = new Date().toISOString();
  return {
    version: 1,
    complete: false,
    verified: false,
    mode: plan.mode.kind === "copy" ? "copy" : "compare",
    sourceId: hello.sourceId,
    targetId: opened.identity,
    sourceSize: hello.sourceSize,
    blockSize: hello.blockSize,
    seed: plan.seed.toString(),
    blocksDone: fromBlock,
    fingerprint: fingerprint.hex,
    generation: plan.generation - 1,
    startedAt: fromBlock > 0 && saved !== undefined ? saved.startedAt : now,
    updatedAt: now,
    lastSync: saved?.lastSync,
    dirs: saved?.dirs,
    writerPid: process.pid,
  };
}
