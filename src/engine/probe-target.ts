import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import type { FrameChannel } from "../protocol/frames.js";
import { FINGERPRINT_SIZE, type Hello, MessageType, PROTOCOL_VERSION } from "../protocol/messages.js";
import { remoteError, unexpected } from "./peer.js";
import { dataLayout, sampleRead } from "./sample-read.js";
import { TransferStats } from "./stats.js";
import type { OpenedTarget, ProbeResult } from "./target-types.js";

/** A probe session lasts at most this long, whatever the peer asks. */
export const MAX_PROBE_SESSION_MS = 10 * 60 * 1000;

export async function answerProbe(
  channel: FrameChannel,
  hello: Hello,
  opened: OpenedTarget,
  stats: TransferStats = new TransferStats(),
  log?: (line: string) => void,
): Promise<ProbeResult> {
  const { volume } = opened;
  const started = performance.now();
  log?.(`${opened.describe}: probe from ${hello.sourceId} (nothing is written)`);
  await channel.send(
    MessageType.welcome,
    codecs.welcome.encode({
      version: PROTOCOL_VERSION,
      targetSize: volume.size,
      sectorSize: volume.info.sectorSize,
      isBlockDevice: volume.info.isBlockDevice,
      compare: false,
      cached: false,
      seed: 0n,
      resumeBlock: 0,
      resumeFingerprint: Buffer.alloc(FINGERPRINT_SIZE),
      checkpointBlocks: 1,
      generation: 0,
      cacheRefusal: "",
    }),
  );
  let received = 0;
  for (;;) {
    const frame = await channel.receive();
    stats.wireBytes = channel.bytesReceived;
    if (frame === undefined) break;
    if (performance.now() - started > MAX_PROBE_SESSION_MS) {
      throw protocolError(`a probe longer than ${MAX_PROBE_SESSION_MS / 60_000} minutes`);
    }
    if (frame.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), "source");
    if (frame.type === MessageType.probe) {
      received += codecs.probe.decode(frame.body).bytes;
      await channel.send(MessageType.probeEcho, codecs.probeReceived.encode({ bytes: received }));
    } else if (frame.type === MessageType.probeEcho) {
      await channel.send(MessageType.probeEcho, codecs.probeEcho.encode(codecs.probeEcho.decode(frame.body)));
    } else if (frame.type === MessageType.probeRead) {
      const ask = codecs.probeRead.decode(frame.body);
      const deadline = performance.now() + ask.maxMs;
      // A delta reads the target's data up to the source's size: sample that.
      const end = Math.min(volume.size, hello.sourceSize);
      const layout = await dataLayout(volume, end, deadline);
      // Progress after each batch: the source keeps its own reads in step with ours.
      let bytes = 0;
      const progress = (data: Buffer) => {
        bytes += data.length;
        const body = codecs.probeReadProgress.encode({ bytes, dataBytes: layout.dataBytes });
        channel.send(MessageType.probeEcho, body).catch(() => {});
      };
      const read = await sampleRead({
        volume,
        end,
        onChunk: progress,
        blockSize: hello.blockSize,
        maxBytes: ask.maxBytes,
        deadline,
        order: "spread",
        phase: ask.phase / 65536,
      });
      stats.readBytes += read.bytes;
      const result = { bytes: read.bytes, micros: Math.round(read.seconds * 1e6), dataBytes: layout.dataBytes };
      await channel.send(MessageType.probeReadResult, codecs.probeReadResult.encode(result));
    } else {
      throw unexpected(frame.type, "during a probe");
    }
  }
  await channel.end();
  if (received === 0 && stats.readBytes === 0) log?.(`${opened.describe}: probe ended without measuring`);
  return { mode: "probe", target: opened.describe, sourceId: hello.sourceId, stats };
}

/** Refuses a probe that also asks for something only a copy does. */
export function checkProbeHello(hello: Hello): void {
  const { compress, full, verify, dryRun } = hello.flags;
  if (compress || full || verify || dryRun || hello.dirs.length > 0 || hello.cacheGeneration > 0) {
    throw protocolError("a probe HELLO with copy options");
  }
}
