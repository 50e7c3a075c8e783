import { closeSync, openSync, statSync, writeFileSync, writeSync } from "node:fs";
import { runSource, type SourceOptions } from "../../src/engine/source.js";
import type { TargetState, TargetStateStore } from "../../src/engine/state.js";
import {
  type OpenedTarget,
  type ProbeResult,
  runTarget,
  type TargetOptions,
  type TargetResult,
} from "../../src/engine/target.js";
import type { GoodCopyKeeper } from "../../src/engine/target-types.js";
import { BlockferryError } from "../../src/errors.js";
import { changeStamp } from "../../src/job/identity.js";
import { openVolume, type Volume } from "../../src/native/index.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { memoryPair } from "../../src/transport/memory.js";
import { seededBytes, seededInts } from "./random.js";

/** A state store in memory, that keeps every version saved. */
export class MemoryStateStore implements TargetStateStore {
  readonly path = "(memory)";
  saved: TargetState[] = [];
  async load() {
    const last = this.saved.at(-1);
    return last === undefined ? undefined : structuredClone(last);
  }
  async save(state: TargetState) {
    this.saved.push(structuredClone(state));
  }
  get last(): TargetState | undefined {
    return this.saved.at(-1);
  }
}

export interface CopyOptions {
  /** Destroy the source's end of the link once this many bytes went through. */
  cutAfterBytes?: number;
  source: string;
  target: string;
  targetName?: string;
  state?: TargetStateStore;
  blockSize?: number;
  source_?: Partial<SourceOptions>;
  target_?: Partial<TargetOptions>;
  /** Called with the target's volume once opened (a test may make its writes go wrong). */
  onTargetOpen?: (volume: Volume) => void;
  /** --keep-good: how the target's last good copy is kept. */
  keeper?: GoodCopyKeeper;
}

/** Runs source and target in this process over an in-memory pair; returns both results and the bytes that crossed. */
export async function copyInProcess(o: CopyOptions) {
  const pair = memoryPair();
  const state = o.state ?? new MemoryStateStore();
  const sourceVolume = await openVolume(o.source);
  // The target knows one name, "t"; the source asks for `targetName`.
  const resolve = async (hello: { targetName: string }): Promise<OpenedTarget> => {
    if (hello.targetName !== "t") {
      throw new BlockferryError("E_UNKNOWN_TARGET", `no target named ${hello.targetName}`);
    }
    const volume = await openVolume(o.target, { write: true, create: true });
    o.onTargetOpen?.(volume);
    return {
      volume,
      state,
      identity: `test:${o.target}`,
      describe: o.target,
      stamp: (seal?: boolean) => changeStamp(o.target, seal),
      keeper: o.keeper,
    };
  };
  const source = runSource({
    volume: sourceVolume,
    channel: new FrameChannel(pair.a),
    targetName: o.targetName ?? "t",
    sourceId: `test:${o.source}`,
    blockSize: o.blockSize ?? 65536,
    ...o.source_,
  });
  const target = runTarget({ channel: new FrameChannel(pair.b), resolve, ...o.target_ }).then(synced);
  let cutAt: number | undefined;
  if (o.cutAfterBytes !== undefined) {
    const limit = o.cutAfterBytes;
    const watch = () => {
      if (pair.bytes.aToB >= limit) {
        cutAt = pair.bytes.aToB;
        pair.a.destroy(new Error("link cut by the test"));
      } else if (!pair.a.destroyed) setImmediate(watch);
    };
    watch();
  }
  const [s, t] = await Promise.allSettled([source, target]);
  await sourceVolume.close();
  return { source: s, target: t, bytes: pair.bytes, state, cutAt };
}

/** An image of random data with zero stretches and a hole, `size` bytes. */
export function writeMixedImage(path: string, size: number, seed: number): Buffer {
  const data = seededBytes(size, seed);
  data.fill(0, Math.floor(size * 0.3), Math.floor(size * 0.45));
  writeFileSync(path, data);
  return data;
}

/** Overwrites `count` scattered 4 KiB pieces of `path` with random bytes; returns the blocks of `blockSize` touched. */
export function scatter(path: string, count: number, seed: number, blockSize = 65536): Set<number> {
  const pick = seededInts(seed);
  const size = statSync(path).size;
  const fd = openSync(path, "r+");
  const blocks = new Set<number>();
  for (let i = 0; i < count; i++) {
    const at = pick(Math.floor(size / 4096)) * 4096;
    writeSync(fd, seededBytes(4096, seed + i), 0, 4096, at);
    blocks.add(Math.floor(at / blockSize));
  }
  closeSync(fd);
  return blocks;
}

/** A target's result as a sync's (these tests never probe). */
export function synced(r: TargetResult | ProbeResult): TargetResult {
  if (r.mode === "probe") throw new Error("expected a sync's result, got a probe's");
  return r;
}

/** The value of a settled promise, or its rejection thrown (source and target run side by side). */
export function fulfilled<T>(r: PromiseSettledResult<T>): T {
  if (r.status === "rejected") throw r.reason;
  return r.value;
}
