/**
 * The source's side of a probe (protocol transcript in
 * src/protocol/messages.ts): over any byte stream a sync would use (TLS,
 * plaintext, ssh), a HELLO with the "probe" flag, then round trips, a timed
 * stream of incompressible bytes the target counts and acknowledges, and
 * reads of the target's own volume on request. The target writes nothing.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { remoteError, unexpected } from "../engine/peer.js";
import { SAMPLE_CHUNK_BYTES } from "../engine/sample-read.js";
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import { type Frame, FrameChannel } from "../protocol/frames.js";
import {
  FINGERPRINT_SIZE,
  MAX_PROBE_READ_BYTES,
  MAX_PROBE_READ_MS,
  MessageType,
  PROTOCOL_VERSION,
  type ProbeReadResult,
  type Welcome,
} from "../protocol/messages.js";

/** Round trips timed; their median is the RTT. */
const ECHOES = 9;
/** One PROBE: small enough for many acknowledgements a second, large enough to cost no CPU per byte. */
const PROBE_PAYLOAD = 1024 * 1024;
/** The first part of the stream is left out of the goodput (TCP's slow start, buffers filling). */
const WARM_UP_FRACTION = 0.15;
/** How far our reads may run ahead of the target's in step: the source's read-ahead (two batches). */
const SLACK_BYTES = 2 * SAMPLE_CHUNK_BYTES;
/** Ends the stream: echoed after the last acknowledgement. */
const END_MARKER = Buffer.from("end");

export interface ProbeRequest {
  targetName: string;
  sourceId: string;
  /** The size of the volume a sync would send (the target samples its reads within it). */
  sourceSize: number;
  blockSize: number;
  /** How long to stream PROBE bytes (ms). */
  streamMs: number;
  /** The whole probe fails (E_NETWORK) after this long. */
  timeoutMs: number;
  /**
   * Target reads: alone for `readMs`, then for `readMs` in step with
   * `localRead` reading the source, as in a delta (two disks, or one shared,
   * show there). 0: no reads.
   */
  readMs: number;
  readBytes: number;
  /** Bytes of the source that hold data: its share of a delta's reads. */
  localDataBytes: number;
  /**
   * Reads the source for `ms`, awaiting `gate(bytes read so far)` before each
   * batch, until `stop()` says the target is done.
   */
  localRead?: (
    ms: number,
    gate: (bytes: number) => Promise<void>,
    stop: () => boolean,
  ) => Promise<{ bytes: number; seconds: number }>;
  onProgress?: (what: string) => void;
}

export interface Rate {
  bytes: number;
  seconds: number;
  bytesPerSecond: number;
}

/** A delta's reads, sampled: each side's bytes, and how long both whole volumes would take at that pace. */
export interface InStep {
  seconds: number;
  target: Rate;
  source: Rate;
  /** The side that got through the smaller share of its data sets the pace. */
  wholeSeconds: number;
}

export interface ProbeResult {
  /** HELLO to WELCOME: the target authorized and opened the target. */
  handshakeSeconds: number;
  target: { size: number; sectorSize: number; isBlockDevice: boolean };
  rttSeconds: number;
  rttSamples: number[];
  goodput: Rate;
  targetRead?: {
    alone: Rate;
    /** Both reading at once, the source kept within two batches of the target's progress. */
    inStep: InStep;
    /** Bytes of the target's volume that hold data (what a delta's comparison reads there). */
    dataBytes: number;
  };
}

export async function probeOver(stream: Duplex, o: ProbeRequest): Promise<ProbeResult> {
  const channel = new FrameChannel(stream);
  // A target that never finishes (or keeps talking) cannot hold the probe past its time.
  const timer = setTimeout(() => {
    const late = new BlockferryError("E_NETWORK", `the target did not finish the probe within ${o.timeoutMs / 1000} s`);
    channel.destroy(late);
  }, o.timeoutMs);
  try {
    const result = await probe(channel, o);
    await channel.end();
    await channel.closed(1000);
    return result;
  } finally {
    clearTimeout(timer);
    channel.destroy();
  }
}

async function probe(channel: FrameChannel, o: ProbeRequest): Promise<ProbeResult> {
  const started = performance.now();
  await channel.send(
    MessageType.hello,
    codecs.hello.encode({
      version: PROTOCOL_VERSION,
      targetName: o.targetName,
      sourceSize: o.sourceSize,
      blockSize: o.blockSize,
      flags: { compress: false, full: false, verify: false, dryRun: false, probe: true },
      sourceId: o.sourceId,
      cacheGeneration: 0,
      cacheFingerprint: Buffer.alloc(FINGERPRINT_SIZE),
      fineSize: 0,
      dirs: [],
    }),
  );
  const welcome = await welcomeOf(await next(channel, "WELCOME"));
  const handshakeSeconds = (performance.now() - started) / 1000;

  o.onProgress?.("round trips");
  const rttSamples: number[] = [];
  for (let i = 0; i < ECHOES; i++) {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(i);
    const sent = performance.now();
    await channel.send(MessageType.probeEcho, codecs.probeEcho.encode(body));
    const back = expect(await next(channel, "PROBE_ECHO"), MessageType.probeEcho);
    if (!codecs.probeEcho.decode(back).equals(body)) throw protocolError("an echo that differs from what was sent");
    rttSamples.push((performance.now() - sent) / 1000);
  }
  const rttSeconds = [...rttSamples].sort((a, b) => a - b)[Math.floor(ECHOES / 2)] as number;

  o.onProgress?.("goodput");
  const goodput = await stream(channel, o.streamMs);
  const result: ProbeResult = {
    handshakeSeconds,
    target: { size: welcome.targetSize, sectorSize: welcome.sectorSize, isBlockDevice: welcome.isBlockDevice },
    rttSeconds,
    rttSamples,
    goodput,
  };
  if (o.readMs > 0 && o.localRead !== undefined) {
    o.onProgress?.("target reads");
    const ask = { maxBytes: Math.min(o.readBytes, MAX_PROBE_READ_BYTES), maxMs: Math.min(o.readMs, MAX_PROBE_READ_MS) };
    const alone = await targetRead(channel, { ...ask, phase: 0 }, () => {});
    o.onProgress?.("target and source reads in step, as in a delta");
    const inStep = await readInStep(channel, ask, o.localRead, o.localDataBytes);
    result.targetRead = { alone: rate(alone.bytes, alone.micros / 1e6), inStep, dataBytes: alone.dataBytes };
  }
  return result;
}

/**
 * Sends PROBE payloads for `ms`; the target acknowledges each with the bytes
 * it has received in all. Goodput: bytes acknowledged over the time they
 * took, after the warm-up, measured where the target received them.
 */
async function stream(channel: FrameChannel, ms: number): Promise<Rate> {
  const payload = randomBytes(PROBE_PAYLOAD); // TLS does not compress; ssh may: random bytes do not shrink
  const acks: Array<{ at: number; bytes: number }> = [];
  let sent = 0;
  const started = performance.now();
  const reader = (async () => {
    for (;;) {
      const body = expect(await next(channel, "a PROBE acknowledgement"), MessageType.probeEcho);
      // The target answers in order: the end marker's echo comes after every acknowledgement.
      if (codecs.probeEcho.decode(body).equals(END_MARKER)) return;
      const { bytes } = codecs.probeReceived.decode(body);
      if (bytes > sent) throw protocolError("more bytes acknowledged than sent");
      acks.push({ at: performance.now(), bytes });
    }
  })();
  reader.catch(() => channel.destroy()); // releases a send waiting on backpressure
  const sender = (async () => {
    do {
      sent += payload.length;
      await channel.send(MessageType.probe, codecs.probe.encode(payload));
    } while (performance.now() - started < ms);
    await channel.send(MessageType.probeEcho, codecs.probeEcho.encode(END_MARKER));
  })();
  await Promise.all([sender, reader]);
  const warm = started + WARM_UP_FRACTION * (performance.now() - started);
  const base = acks.find((a) => a.at >= warm) ?? acks[0];
  const last = acks.at(-1);
  if (base === undefined || last === undefined) return rate(0, 0);
  // Too few acknowledgements after the warm-up: measure from the start.
  const from = last.at - base.at > 0.1 * (last.at - started) ? base : { at: started, bytes: 0 };
  return rate(last.bytes - from.bytes, (last.at - from.at) / 1000);
}

/**
 * The target reads while we read our volume, ours never more than two
 * batches (of our data, as a share) ahead of the target's progress: in a
 * delta the source waits for the target's digests, and on a disk the two
 * share, how they split it depends on that.
 */
async function readInStep(
  channel: FrameChannel,
  ask: { maxBytes: number; maxMs: number },
  localRead: NonNullable<ProbeRequest["localRead"]>,
  localData: number,
): Promise<InStep> {
  const theirs = { bytes: 0, dataBytes: 0, done: false };
  let wake: () => void = () => {};
  const gate = async (bytes: number) => {
    const ahead = (mine: number) => theirs.dataBytes === 0 || mine / localData > theirs.bytes / theirs.dataBytes;
    while (!theirs.done && ahead(bytes - SLACK_BYTES)) await new Promise<void>((r) => (wake = r));
  };
  const started = performance.now();
  const [answer, local] = await Promise.all([
    // Bounded by time alone: a target that runs out of data ends ours too.
    targetRead(channel, { ...ask, maxBytes: MAX_PROBE_READ_BYTES, phase: 32768 }, (bytes, dataBytes) => {
      Object.assign(theirs, { bytes, dataBytes });
      wake();
    }).finally(() => {
      theirs.done = true;
      wake();
    }),
    localRead(ask.maxMs, gate, () => theirs.done),
  ]);
  const seconds = (performance.now() - started) / 1000;
  const shares = [
    answer.dataBytes > 0 ? answer.bytes / answer.dataBytes : 1,
    localData > 0 ? local.bytes / localData : 1,
  ];
  const share = Math.min(...shares);
  return {
    seconds,
    target: rate(answer.bytes, answer.micros / 1e6),
    source: rate(local.bytes, local.seconds),
    wholeSeconds: share > 0 ? seconds / share : Number.POSITIVE_INFINITY,
  };
}

/** PROBE_READ, then the target's progress (PROBE_ECHO: bytes read, bytes of data) until its result. */
async function targetRead(
  channel: FrameChannel,
  ask: { maxBytes: number; maxMs: number; phase: number },
  onProgress: (bytes: number, dataBytes: number) => void,
): Promise<ProbeReadResult> {
  await channel.send(MessageType.probeRead, codecs.probeRead.encode(ask));
  for (;;) {
    const frame = await next(channel, "PROBE_READ_RESULT");
    if (frame.type === MessageType.probeReadResult) return codecs.probeReadResult.decode(frame.body);
    const progress = codecs.probeReadProgress.decode(expect(frame, MessageType.probeEcho));
    onProgress(progress.bytes, progress.dataBytes);
  }
}

function rate(bytes: number, seconds: number): Rate {
  return { bytes, seconds, bytesPerSecond: seconds > 0 ? bytes / seconds : 0 };
}

async function next(channel: FrameChannel, what: string): Promise<Frame> {
  const frame = await channel.receive();
  if (frame === undefined) throw new BlockferryError("E_NETWORK", `the target closed the connection before ${what}`);
  if (frame.type === MessageType.error) {
    const error = codecs.error.decode(frame.body);
    // A receiver older than the probe refuses the flag: say what that means.
    if (/HELLO: unknown flags/.test(error.message)) {
      throw new BlockferryError(
        "E_VERSION",
        `target: ${error.message} (a receiver older than \`bench --to\`: upgrade it)`,
      );
    }
    throw remoteError(error, "target refused");
  }
  return frame;
}

function expect(frame: Frame, type: MessageType): Buffer {
  if (frame.type !== type) throw unexpected(frame.type, `instead of message type ${type}`);
  return frame.body;
}

function welcomeOf(frame: Frame): Welcome {
  return codecs.welcome.decode(expect(frame, MessageType.welcome));
}
