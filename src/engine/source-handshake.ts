/**
 * The source's side of the handshake: HELLO, WELCOME (checked), and where
 * the copy starts: an interrupted copy's resume point if the part already
 * copied still matches this source, else block 0.
 */
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { FINGERPRINT_SIZE, type Hello, MessageType, PROTOCOL_VERSION, type Welcome } from "../protocol/messages.js";
import type { CachedDigests } from "./digest-cache.js";
import { Fingerprint, fingerprintVolume } from "./fingerprint.js";
import { fromPeer, unexpected } from "./peer.js";
import type { SourceOptions } from "./source-types.js";
import type { TransferStats } from "./stats.js";
import { BATCH_BYTES } from "./volume-reader.js";

export function helloOf(o: SourceOptions, offered: CachedDigests | undefined): Hello {
  return {
    version: PROTOCOL_VERSION,
    targetName: o.targetName,
    sourceSize: o.volume.size,
    blockSize: o.blockSize,
    flags: {
      compress: o.compress ?? false,
      full: o.full ?? false,
      verify: o.verify ?? false,
      dryRun: o.dryRun ?? false,
      // Only when set: HELLOs stay as older receivers know them.
      ...(o.force ? { force: true } : {}),
      ...(trackingRefusal(o, offered) === "" ? { tracked: true } : {}),
    },
    sourceId: o.sourceId,
    cacheGeneration: offered?.generation ?? 0,
    cacheFingerprint: offered?.fingerprint ?? Buffer.alloc(FINGERPRINT_SIZE),
    fineSize: o.fineSize ?? 0,
    dirs: o.dryRun ? [] : (o.dirs ?? []).map((d) => d.dest),
  };
}

/** Why the changes listed cannot stand for the cache's comparison, known before HELLO (which then says "tracked"); "" when they can. */
export function trackingRefusal(o: SourceOptions, offered: CachedDigests | undefined): string {
  if (o.changes === undefined) return "no changes were listed";
  if (offered === undefined) return "no digest cache is offered this run";
  if (offered.fingerprint.toString("hex") !== o.changes.baseFingerprint)
    return "the base snapshot is not the one the digest cache describes";
  return "";
}

export async function receiveWelcome(channel: FrameChannel): Promise<Welcome> {
  const frame = await fromPeer(channel, "target refused");
  if (frame === undefined)
    throw new BlockferryError("E_NETWORK", "the target closed the connection during the handshake");
  if (frame.type !== MessageType.welcome) throw unexpected(frame.type, "instead of WELCOME");
  return codecs.welcome.decode(frame.body);
}

export function checkWelcome(
  o: SourceOptions,
  offered: CachedDigests | undefined,
  welcome: Welcome,
  stats: TransferStats,
) {
  if (welcome.cached && (offered === undefined || welcome.seed !== offered.seed)) {
    throw protocolError("the target took up a digest cache not offered");
  }
  if (welcome.cacheRefusal !== "") o.log?.(`the digest cache is not used: ${welcome.cacheRefusal}`);
  stats.cachedDigests = welcome.cached;
  if (welcome.targetSize < o.volume.size) {
    throw new BlockferryError(
      "E_TARGET_TOO_SMALL",
      `target is ${welcome.targetSize} bytes, the source ${o.volume.size}`,
    );
  }
  const batchBlocks = Math.ceil(Math.max(BATCH_BYTES, o.blockSize) / o.blockSize);
  if (welcome.checkpointBlocks < batchBlocks || welcome.checkpointBlocks > 2 ** 31) {
    throw protocolError(`checkpoint interval of ${welcome.checkpointBlocks} blocks (expected ${batchBlocks} to 2^31)`);
  }
}

/** A resumed copy counts only if the part already copied still matches this source. */
export async function resumePoint(o: SourceOptions, welcome: Welcome, stats: TransferStats) {
  const { volume, blockSize } = o;
  const blockCount = Math.ceil(volume.size / blockSize);
  if (welcome.resumeBlock === 0 || o.full || o.dryRun) return { fromBlock: 0, prefix: new Fingerprint() };
  if (welcome.resumeBlock > blockCount) throw protocolError("the target resumes past the end");
  o.log?.(`checking the ${welcome.resumeBlock * blockSize} bytes copied before`);
  const prefixEnd = Math.min(welcome.resumeBlock * blockSize, volume.size);
  const batchBytes = Math.max(BATCH_BYTES, blockSize);
  const prefix = await fingerprintVolume(volume, prefixEnd, blockSize, welcome.seed, stats, batchBytes, (bytes) => {
    stats.prefixCheckedBytes = bytes;
  });
  if (prefix.equals(welcome.resumeFingerprint)) return { fromBlock: welcome.resumeBlock, prefix };
  o.log?.("the source changed since the interrupted copy: starting over");
  return { fromBlock: 0, prefix: new Fingerprint() };
}
