/**
 * One `blockferry bench`: measures this host (reads of the volume, digests,
 * lz4, zero blocks) and, with a destination, the link and the target's reads
 * through the transport a sync would use; then predicts. The time limit
 * bounds all of it: each phase gets its share of the time left, so a phase
 * that finishes early (a small volume) leaves more to the next.
 */
import { availableParallelism, hostname } from "node:os";
import type { Duplex } from "node:stream";
import { type DataLayout, dataLayout, type SampleResult, sampleRead } from "../engine/sample-read.js";
import { openVolume, type Volume } from "../native/index.js";
import { formatBytes, formatRate } from "../units.js";
import { advise } from "./advice.js";
import { measureCodecs, SampleSlices } from "./codec-rates.js";
import { type ModelInput, type Prediction, predict } from "./model.js";
import { type ProbeResult, probeOver, type Rate } from "./probe-client.js";
import { makeTempVolume } from "./temp-volume.js";
import { type ZeroProfile, zeroProfile } from "./zero-fraction.js";

/** Reaching the destination: the transport a sync would use, as a callback around the byte stream. */
export interface BenchDestination {
  /** As given on the command line. */
  spec: string;
  transport: "tls" | "plaintext" | "ssh";
  targetName: string;
  connect: <T>(use: (stream: Duplex) => Promise<T>) => Promise<T>;
}

export interface BenchOptions {
  /** undefined: a temporary file of random bytes in `tmpDir`. */
  volume: string | undefined;
  tmpDir: string;
  /** The volume size to predict for (default: the volume's). */
  size: number | undefined;
  blockSize: number;
  compress: boolean;
  change: number;
  seconds: number;
  sampleBytes: number;
  fullScan: boolean;
  to: BenchDestination | undefined;
  /** Seconds this process took to start (a sync pays them too). */
  startupSeconds: number;
  /** A line per phase, for the progress display. */
  progress: (line: string) => void;
}

export type BenchReport = Awaited<ReturnType<typeof runBench>>;

/** Shares of the time limit (see the file comment). */
const WEIGHTS = { temp: 1, direct: 3, buffered: 1.5, codecs: 1, stream: 5, targetAlone: 1.5, inStep: 1.5 };
type Phase = keyof typeof WEIGHTS;
/** Longest stream of probe bytes: a longer one measures the same goodput. */
const MAX_STREAM_MS = 15_000;
/** Longest read of the target's volume (alone, then in step with ours). */
const MAX_READ_MS = 5_000;
/** How far past the time limit a target may take to finish the probe before it is given up. */
const PROBE_GRACE_MS = 30_000;
/** Shortest stream or read worth timing. */
const MIN_PHASE_MS = 250;

export async function runBench(o: BenchOptions) {
  const started = performance.now();
  const end = started + o.seconds * 1000;
  const phases: Phase[] = [
    ...(o.volume === undefined ? (["temp"] as const) : []),
    "direct",
    "buffered",
    "codecs",
    ...(o.to === undefined ? [] : (["stream", "targetAlone", "inStep"] as const)),
  ];
  /** Milliseconds for `phase`: its share of the time left among the phases not yet run. */
  const share = (phase: Phase) => {
    const left = phases.slice(phases.indexOf(phase));
    const total = left.reduce((n, p) => n + WEIGHTS[p], 0);
    return Math.max(0, ((end - performance.now()) * WEIGHTS[phase]) / total);
  };
  const until = (phase: Phase) => performance.now() + share(phase);

  const temp = o.volume === undefined ? await makeTemp(o, until("temp")) : undefined;
  const path = temp?.path ?? (o.volume as string);
  try {
    const volume = await openVolume(path);
    try {
      return await measureAndPredict(o, volume, temp !== undefined, { started, end, share, until });
    } finally {
      await volume.close();
    }
  } finally {
    await temp?.remove();
  }
}

async function makeTemp(o: BenchOptions, deadline: number) {
  o.progress(`writing a temporary file of random bytes in ${o.tmpDir}`);
  return makeTempVolume(o.tmpDir, deadline);
}

interface Clock {
  started: number;
  end: number;
  share: (phase: Phase) => number;
  until: (phase: Phase) => number;
}

async function measureAndPredict(o: BenchOptions, volume: Volume, generated: boolean, clock: Clock) {
  const size = volume.size;
  const { layout, direct, buffered, slices } = await measureReads(o, volume, clock);
  o.progress("digests and lz4 on the sample, one core");
  const codecs = await measureCodecs(slices.data(), o.blockSize, clock.until("codecs"));
  const cores = availableParallelism();
  o.progress(
    `  digests ${formatRate(codecs.digestPerCore)} per core, lz4 ${formatRate(codecs.lz4PerCore)} per core, ratio ${codecs.lz4Ratio.toFixed(2)}:1`,
  );
  const zero = zeroProfile(size, layout, direct.bytes, direct.zeroBytes);
  // Without a volume: predicted for --size of random data, as the temporary file holds.
  const predictedSize = o.size ?? size;
  const network =
    o.to === undefined ? undefined : await probeDestination(o, o.to, volume, layout, predictedSize, clock);
  const input = modelInput(o, { predictedSize, size, zero, direct, codecs, cores, probe: network?.probe });
  if (input.network !== undefined && network !== undefined) {
    input.network.handshakeSeconds += network.connectSeconds;
  }
  const prediction: Prediction = predict(input);
  return {
    ok: true as const,
    volume: { path: generated ? null : volume.path, generated, size, isBlockDevice: volume.info.isBlockDevice },
    settings: {
      blockSize: o.blockSize,
      compress: o.compress ? "lz4" : "none",
      change: o.change,
      seconds: o.seconds,
      sampleBytes: o.fullScan ? null : o.sampleBytes,
      fullScan: o.fullScan,
      predictedSize,
    },
    measured: {
      startupSeconds: o.startupSeconds,
      readDirect: { ...rate(direct), direct: volume.info.direct },
      readBuffered: rate(buffered),
      digest: { bytesPerSecondPerCore: codecs.digestPerCore, cores },
      lz4: { bytesPerSecondPerCore: codecs.lz4PerCore, ratio: codecs.lz4Ratio, sampleBytes: codecs.sampleBytes },
      zero: { ...zero, sampledBytes: direct.bytes },
      network:
        network === undefined || o.to === undefined
          ? null
          : {
              destination: o.to.spec,
              transport: o.to.transport,
              connectSeconds: network.connectSeconds,
              ...network.probe,
            },
    },
    prediction: {
      ...prediction,
      advice: advise(input, prediction),
      assumptions: assumptions(o, input, zero, direct, volume.info.direct, network?.probe, generated),
    },
    elapsedSeconds: (performance.now() - clock.started) / 1000,
    timeLimitReached: performance.now() >= clock.end,
  };
}

/** The volume's layout, and a sample read as a sync reads (O_DIRECT, kept for the codecs) and one buffered. */
async function measureReads(o: BenchOptions, volume: Volume, clock: Clock) {
  const { blockSize } = o;
  const size = volume.size;
  const layout = await dataLayout(volume, size, clock.until("direct"));
  const maxBytes = o.fullScan ? Number.POSITIVE_INFINITY : o.sampleBytes;
  o.progress(
    `reading ${o.fullScan ? "all" : "a sample"} of ${formatBytes(layout.dataBytes)} of data (O_DIRECT, as a sync reads)`,
  );
  const slices = new SampleSlices(blockSize);
  const direct = await sampleRead({
    volume,
    end: size,
    blockSize,
    maxBytes,
    deadline: clock.until("direct"),
    order: o.fullScan ? "sequential" : "spread",
    onChunk: (data, zero) => slices.add(data, zero),
  });
  o.progress(`  ${formatBytes(direct.bytes)} in ${direct.seconds.toFixed(2)} s: ${formatRate(rateOf(direct))}`);
  o.progress("reading another sample, buffered (through the page cache)");
  const bufferedVolume = await openVolume(volume.path, { direct: false });
  let buffered: SampleResult;
  try {
    buffered = await sampleRead({
      volume: bufferedVolume,
      end: size,
      blockSize,
      maxBytes: Math.min(maxBytes, o.sampleBytes),
      deadline: clock.until("buffered"),
      order: "spread",
      phase: 0.5,
    });
  } finally {
    await bufferedVolume.close();
  }
  o.progress(`  ${formatBytes(buffered.bytes)} in ${buffered.seconds.toFixed(2)} s: ${formatRate(rateOf(buffered))}`);
  return { layout, direct, buffered, slices };
}

/** What the model is given: the measured rates, scaled to the size predicted for. */
function modelInput(
  o: BenchOptions,
  m: {
    predictedSize: number;
    size: number;
    zero: ReturnType<typeof zeroProfile>;
    direct: SampleResult;
    codecs: Awaited<ReturnType<typeof measureCodecs>>;
    cores: number;
    probe: ProbeResult | undefined;
  },
): ModelInput {
  const scale = m.predictedSize / Math.max(m.size, 1);
  const p = m.probe;
  return {
    size: m.predictedSize,
    dataBytes: m.zero.dataBytes * scale,
    zeroFraction: m.zero.zeroFractionOfData,
    blockSize: o.blockSize,
    compress: o.compress,
    change: o.change,
    readRate: rateOf(m.direct),
    digestPerCore: m.codecs.digestPerCore,
    lz4PerCore: m.codecs.lz4PerCore,
    lz4Ratio: m.codecs.lz4Ratio,
    cores: m.cores,
    startupSeconds: o.startupSeconds,
    network:
      p === undefined
        ? undefined
        : {
            goodput: p.goodput.bytesPerSecond,
            rttSeconds: p.rttSeconds,
            handshakeSeconds: p.handshakeSeconds,
            targetIsBlockDevice: p.target.isBlockDevice,
            targetSize: p.target.size,
            targetReads: p.targetRead === undefined ? undefined : inStepRates(p.targetRead, m.zero.dataBytes),
          },
  };
}

async function probeDestination(
  o: BenchOptions,
  to: BenchDestination,
  volume: Volume,
  layout: DataLayout,
  predictedSize: number,
  clock: Clock,
): Promise<{ connectSeconds: number; probe: ProbeResult }> {
  o.progress(`connecting to ${to.spec}; nothing is written there`);
  const connecting = performance.now();
  const streamMs = Math.min(MAX_STREAM_MS, clock.share("stream"));
  let connectSeconds = 0;
  const probe = await to.connect(async (stream) => {
    connectSeconds = (performance.now() - connecting) / 1000;
    // Shares fixed now: the probe is one session. Reads too short to mean anything are skipped.
    const readMs = Math.min(MAX_READ_MS, (clock.end - performance.now() - streamMs) / 2);
    return probeOver(stream, {
      targetName: to.targetName,
      sourceId: `${hostname()}:bench`,
      sourceSize: predictedSize,
      blockSize: o.blockSize,
      streamMs: Math.max(MIN_PHASE_MS, streamMs),
      timeoutMs: Math.max(0, clock.end - performance.now()) + PROBE_GRACE_MS,
      readMs: readMs >= MIN_PHASE_MS ? readMs : 0,
      readBytes: o.fullScan ? Number.MAX_SAFE_INTEGER : o.sampleBytes,
      localDataBytes: layout.dataBytes,
      localRead: (ms, gate, stop) => readFor(volume, layout, o.blockSize, ms, gate, stop),
      onProgress: (what) => o.progress(`  ${what}`),
    });
  });
  o.progress(
    `  round trip ${(probe.rttSeconds * 1000).toFixed(2)} ms, goodput ${formatRate(probe.goodput.bytesPerSecond)}` +
      (probe.targetRead === undefined
        ? ""
        : `, target reads ${formatRate(probe.targetRead.alone.bytesPerSecond)} alone; in step with ours, both volumes in ${probe.targetRead.inStep.wholeSeconds.toFixed(1)} s`),
  );
  return { connectSeconds, probe };
}

/** The source's reads for `ms` or until `stop()`, over and over if the volume is small: as long as the target's beside them. */
async function readFor(
  volume: Volume,
  layout: DataLayout,
  blockSize: number,
  ms: number,
  gate: (bytes: number) => Promise<void>,
  stop: () => boolean,
) {
  const deadline = performance.now() + ms;
  let bytes = 0;
  let seconds = 0;
  for (let pass = 0; performance.now() < deadline && !stop() && layout.dataBytes > 0; pass++) {
    const r = await sampleRead({
      volume,
      end: volume.size,
      blockSize,
      maxBytes: Number.POSITIVE_INFINITY,
      deadline,
      order: "spread",
      phase: (0.25 + pass * 0.37) % 1,
      stop,
      gate: (b) => gate(bytes + b),
    });
    bytes += r.bytes;
    seconds += r.seconds;
    if (r.bytes === 0) break;
  }
  return { bytes, seconds };
}

/** The model's in-step rates: each side's data over the time the probe says both whole volumes take. */
function inStepRates(t: NonNullable<ProbeResult["targetRead"]>, sourceData: number) {
  const whole = t.inStep.wholeSeconds;
  const ok = Number.isFinite(whole) && whole > 0 && t.dataBytes > 0;
  return {
    alone: t.alone.bytesPerSecond,
    inStepSource: ok ? sourceData / whole : 0,
    inStepTarget: ok ? t.dataBytes / whole : 0,
    dataBytes: t.dataBytes,
  };
}

function rateOf(r: { bytes: number; seconds: number }): number {
  return r.seconds > 0 ? r.bytes / r.seconds : 0;
}

function rate(r: SampleResult): Rate {
  return { bytes: r.bytes, seconds: r.seconds, bytesPerSecond: rateOf(r) };
}

function assumptions(
  o: BenchOptions,
  m: ModelInput,
  zero: ZeroProfile,
  direct: SampleResult,
  isDirect: boolean,
  probe: ProbeResult | undefined,
  generated: boolean,
): string[] {
  const out: string[] = [];
  if (generated) {
    out.push(`no VOLUME: predicted for ${formatBytes(m.size)} of random data (no zero blocks, incompressible)`);
  } else if (direct.bytes < zero.dataBytes) {
    out.push(
      `zero blocks and lz4 ratio estimated from a sample of ${formatBytes(direct.bytes)} of ${formatBytes(zero.dataBytes)} of data, spread over the volume (--full-scan reads it all)`,
    );
  }
  if (!isDirect) out.push("the volume refused O_DIRECT (tmpfs?): reads went through the page cache, as a sync's would");
  out.push(
    `delta: ${(o.change * 100).toPrecision(3).replace(/\.?0+$/, "")}% of the ${formatBytes(o.blockSize)} blocks rewritten at scattered places, with data like the sample's`,
  );
  out.push(
    "change-tracked: each changed block read as a 64 KiB pool chunk at least (lvm2's default), at the O_DIRECT rate (on spinning disks each also seeks); thin_delta's own time not counted",
  );
  if (probe === undefined) {
    out.push("no --to: no network stage; the sync takes at least this long whatever the link");
  } else if (probe.targetRead !== undefined) {
    out.push(
      `target writes as fast as it reads (${formatRate(probe.targetRead.alone.bytesPerSecond)} measured there); a delta reads both volumes at the pace the probe measured in step`,
    );
    if (probe.targetRead.dataBytes === 0) {
      out.push(
        "the target holds no copy yet: a delta is taken to find what the full copy leaves (zero blocks as holes)",
      );
    }
  } else {
    out.push("the target reads and writes as fast as this host reads");
  }
  if (probe?.target.isBlockDevice && probe.target.size < m.size) {
    out.push(`the target is ${formatBytes(probe.target.size)}, smaller than the source: a sync would be refused`);
  }
  out.push(
    `fixed costs: this process's start (${o.startupSeconds.toFixed(2)} s)${probe === undefined ? "" : ", the connection and handshake, two round trips"}`,
  );
  return out;
}
