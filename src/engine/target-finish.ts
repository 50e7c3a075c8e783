/**
 * The end of a sync on the target: after END, every write drained and
 * synced, the fingerprints compared (and with --verify the copy re-read), the
 * state marked complete only if they match, DONE sent, then the --with-dir
 * directories of a confirmed copy received.
 */
import { BlockferryError } from "../errors.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { FINGERPRINT_SIZE, type Hello, MAX_BLOCKS_BYTES, MessageType } from "../protocol/messages.js";
import { mark } from "../timeline.js";
import type { BlockWriter } from "./block-writer.js";
import { receiveDirectories } from "./dir-transfer.js";
import { type Fingerprint, fingerprintVolume } from "./fingerprint.js";
import { checkGoodCopy, dropGoodCopy, noteLostDuringSync } from "./good-copy.js";
import { fromPeer, unexpected } from "./peer.js";
import type { TargetState } from "./state.js";
import type { TransferStats } from "./stats.js";
import type { OpenedTarget, TargetResult } from "./target-types.js";

export interface Ending {
  channel: FrameChannel;
  opened: OpenedTarget;
  hello: Hello;
  stats: TransferStats;
  log: (line: string) => void;
  mode: TargetResult["mode"];
  /** The first block this sync received (past 0: a resumed copy). */
  fromBlock: number;
}

export interface CopyEnding extends Ending {
  /** Updated and saved: complete, or reset to nothing trusted. */
  state: TargetState;
  writer: BlockWriter;
  /** The copy's fingerprint as received, and the source's. */
  written: Fingerprint;
  sourceSum: Buffer;
}

/** After END: the copy confirmed (DONE), its directories received; throws E_VERIFY for a copy that differs. */
export async function finishCopy(e: CopyEnding): Promise<TargetResult> {
  const { channel, opened, hello, stats, state } = e;
  await e.writer.drain();
  mark("writes drained");
  await opened.volume.sync();
  mark("synced");
  let verified = e.written.equals(e.sourceSum);
  let fingerprint = e.written;
  if (verified && hello.flags.verify) {
    e.log(`${opened.describe}: re-reading the copy to verify it`);
    const batchBytes = Math.max(MAX_BLOCKS_BYTES, hello.blockSize);
    fingerprint = await fingerprintVolume(
      opened.volume,
      hello.sourceSize,
      hello.blockSize,
      BigInt(state.seed),
      stats,
      batchBytes,
    );
    verified = fingerprint.equals(e.sourceSum);
  }
  await record(e, verified, fingerprint);
  mark("recorded");
  const done = {
    fingerprint: fingerprint.toBuffer(),
    verified,
    targetReadBytes: stats.readBytes,
    targetWriteMs: Math.round(stats.writeSeconds * 1000),
  };
  await channel.send(MessageType.done, codecs.done.encode(done));
  // --with-dir: the directories follow a confirmed copy only.
  const dirs =
    verified && hello.dirs.length > 0 ? await receiveDirectories(channel, hello.dirs, e.log, opened.checkDir) : [];
  if (dirs.length > 0) {
    const placedAt = new Date().toISOString();
    state.dirs = dirs.map((d) => ({ path: d.dest, at: placedAt, entries: d.entries, bytes: d.bytes }));
    await opened.state.save(state);
  }
  // A copy that differs is this side's verdict, whatever the source answers to DONE.
  await closeAfterDone(channel).catch((err: unknown) => {
    if (verified) throw err;
  });
  if (!verified) {
    throw new BlockferryError(
      "E_VERIFY",
      `${opened.describe}: the copy's fingerprint ${fingerprint.hex} differs from the source's ${e.sourceSum.toString("hex")}; marked incomplete`,
    );
  }
  stats.doneBytes = stats.ackedBytes = hello.sourceSize;
  return result(e, fingerprint.hex, verified, dirs);
}

/** A dry run ends with nothing written or recorded: DONE says "not verified". */
export async function finishDryRun(e: Ending): Promise<TargetResult> {
  const zero = Buffer.alloc(FINGERPRINT_SIZE);
  const done = { fingerprint: zero, verified: false, targetReadBytes: e.stats.readBytes, targetWriteMs: 0 };
  await e.channel.send(MessageType.done, codecs.done.encode(done));
  await closeAfterDone(e.channel);
  return result({ ...e, fromBlock: 0 }, zero.toString("hex"), false, []);
}

/** Marks the state complete (with the stamp that vouches for it), or resets it: nothing of this copy is trusted. */
async function record(e: CopyEnding, verified: boolean, fingerprint: Fingerprint): Promise<void> {
  const { state, hello, stats, channel } = e;
  const at = new Date().toISOString();
  state.writerPid = undefined;
  if (verified) {
    // Taken after the last write and sync: any later write changes it.
    state.stamp = await e.opened.stamp(true);
    state.generation += 1;
    Object.assign(state, { complete: true, verified: true, blocksDone: Math.ceil(hello.sourceSize / hello.blockSize) });
    Object.assign(state, { fingerprint: fingerprint.hex, updatedAt: at, completedAt: at });
    state.lastSync = {
      at,
      sourceId: hello.sourceId,
      generation: state.generation,
      mode: e.mode === "tracked" ? "cached" : e.mode,
      ...(e.mode === "tracked" ? { tracked: true as const } : {}),
      seconds: Math.round(stats.elapsedSeconds() * 1000) / 1000,
      bytesIn: channel.bytesReceived,
      bytesOut: channel.bytesSent,
      reread: hello.flags.verify,
    };
    if (state.good !== undefined) await dropAfterRecording(e, state);
  } else {
    await checkGoodCopy(e.opened, state, e.log);
    // Something between the source's reads and this disk went wrong.
    Object.assign(state, {
      complete: false,
      verified: false,
      blocksDone: 0,
      fingerprint: "0".repeat(32),
      updatedAt: at,
    });
  }
  await e.opened.state.save(state);
}

/**
 * The preserved copy goes only once the volume is on record as complete: a
 * receiver killed between the two still leaves a verified copy, and the
 * next sync replaces the one still named (target-facts.ts reads the volume to
 * check when its stamp moved meanwhile). Removing a snapshot may move the
 * volume's stamp: then it is sealed again (only then: sealing an image moves
 * its stamp, and a kill before the last save would leave it to be read).
 */
async function dropAfterRecording(e: CopyEnding, state: TargetState): Promise<void> {
  await noteLostDuringSync(e.opened, state, e.log);
  await e.opened.state.save(state);
  await dropGoodCopy(e.opened, state, e.log);
  if ((await e.opened.stamp()) !== state.stamp) state.stamp = await e.opened.stamp(true);
}

/** The source ends its side once it has read DONE (and sent its directories); then we close ours. */
async function closeAfterDone(channel: FrameChannel): Promise<void> {
  const after = await fromPeer(channel, "source");
  if (after !== undefined) throw unexpected(after.type, "after DONE");
  await channel.end();
}

function result(e: Ending, fingerprint: string, verified: boolean, dirs: TargetResult["dirs"]): TargetResult {
  const { opened, hello, stats, mode, fromBlock } = e;
  return {
    mode,
    target: opened.describe,
    sourceId: hello.sourceId,
    fingerprint,
    verified,
    resumedFromBlock: fromBlock,
    stats,
    dirs,
  };
}
