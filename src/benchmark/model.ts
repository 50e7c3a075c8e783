/**
 * How long a sync will take, from what `blockferry bench` measured. The
 * engine runs its stages in parallel (reads ahead, digests and lz4 on worker
 * threads, the wire, the target's writes behind the network), so a sync
 * takes as long as its slowest stage, plus fixed costs:
 *
 * Full copy ≈ setup + max(
 *     source read:  data bytes (holes are never read) ÷ sampled O_DIRECT rate (digests included),
 *     digests:      data bytes ÷ (per-core rate × cores the read-ahead uses),
 *     lz4 (--compress lz4): non-zero bytes ÷ (per-core rate × cores),
 *     network:      bytes on the wire ÷ measured goodput; on the wire are the non-zero bytes
 *                   (÷ the sample's lz4 ratio with --compress lz4) plus 5 bytes per block and a
 *                   header per message (zero blocks cost only those),
 *     target write: non-zero bytes ÷ the target's read rate (a write is taken to be as fast as
 *                   a read of the same disk; the source's rate when the target's is unknown))
 *   + fill: the first batch read before anything is sent, the last one written after.
 * Setup: this process's start (measured), the connection and handshake (measured) and two round
 * trips (START, END and DONE).
 *
 * Delta (the target reads its copy) ≈ setup + max(
 *     reads:   the source reads its data S while the target reads what it holds T, in step
 *              (the source compares each batch with the target's digests as they come). The
 *              probe measures exactly that on samples: the target reads while this host reads,
 *              held within two batches of the target's progress; the side that got through the
 *              smaller share of its data sets the pace, and its share per second gives the time
 *              for the whole volumes (a disk the two share, or one slower than the other, shows
 *              there). Plus the changed blocks, read again by the target (two-level comparison).
 *              Without the probe: each on a disk of its own, at this host's read rate,
 *     digests: as above,
 *     network: forward, the changed blocks (`change` of the volume's blocks, taken as rewritten
 *              whole with data like the sample's) and the two-level comparison's piece digests;
 *              back, 16 bytes of digest per block the target holds; the link is full duplex,
 *              so the larger of the two) + fill.
 * Delta with the digest cache: the source reads its data; the target reads only the changed
 * blocks, offered piece by piece as in the delta (the same bytes travel, no digests come back).
 * Change-tracked delta (a thin LV with --snapshot lvm): as with the cache, but the source reads
 * only the blocks thin_delta names: each changed block, scattered, costs at least a pool chunk.
 * thin_delta's own time (it reads the pool's metadata, not data) is not in it.
 * Without --to there is no network stage (this host only).
 */
import { SAMPLE_CHUNK_BYTES } from "../engine/sample-read.js";
import { DIGEST_SIZE } from "../native/index.js";
import { MIN_FINE_SIZE } from "../protocol/messages.js";

/** Batches the source's read-ahead digests and compresses at once (src/engine/source.ts). */
const PARALLEL_BATCHES = 2;
/** Wire bytes per block of a BLOCKS message, and per message (frame and BLOCKS header). */
const PER_BLOCK_BYTES = 5;
const PER_MESSAGE_BYTES = 17;
/** A changed block of a delta: SAME_RUN before it, FINE_OFFER and FINE_BLOCKS headers, FINE_NEED back. */
const PER_CHANGED_BLOCK_BYTES = 150;
/** lvm2's default thin-pool chunk: thin_delta names changes in chunks, read whole. */
export const THIN_CHUNK_BYTES = 65536;

export interface ModelInput {
  /** Volume bytes, and those holding data (not holes). */
  size: number;
  dataBytes: number;
  /** All-zero blocks as a fraction of the data. */
  zeroFraction: number;
  blockSize: number;
  compress: boolean;
  /** Fraction of the volume's blocks changed since the last sync, scattered. */
  change: number;
  /** Source O_DIRECT reads with digests, bytes per second. */
  readRate: number;
  digestPerCore: number;
  lz4PerCore: number;
  lz4Ratio: number;
  cores: number;
  /** This process's own start (node and the addon), seconds: a sync starts the same way. */
  startupSeconds: number;
  network?: NetworkInput | undefined;
}

export interface NetworkInput {
  goodput: number;
  rttSeconds: number;
  /** Connecting and HELLO to WELCOME. */
  handshakeSeconds: number;
  targetIsBlockDevice: boolean;
  targetSize: number;
  /** Measured by the probe; undefined when the target was not asked to read. */
  targetReads?:
    | {
        alone: number;
        /** Both volumes read in step, as a delta reads them: each side's bytes per second (0: not measured). */
        inStepSource: number;
        inStepTarget: number;
        /** Bytes of the target holding data now (0: no copy yet). */
        dataBytes: number;
      }
    | undefined;
}

export interface Stage {
  name: string;
  /** Bytes the stage handles (for "reads", the source's and the target's together). */
  bytes: number;
  seconds: number;
}

/** The delta's stage where both volumes are read at once: it has no single rate. */
export const BOTH_READS = "reads (source and target at once)";

export interface Estimate {
  seconds: number;
  bottleneck: string;
  /** Bytes per second of the bottleneck stage (of the volume's bytes it handles). */
  stages: Stage[];
  setupSeconds: number;
  wireBytes: number;
}

export interface Prediction {
  fullCopy: Estimate;
  delta: Estimate & { changedBytes: number; digestBytes: number; targetReadBytes: number };
  deltaCached: Estimate & { changedBytes: number };
  deltaTracked: Estimate & { changedBytes: number; sourceReadBytes: number };
}

export function predict(m: ModelInput): Prediction {
  const c = modelContext(m);
  return { fullCopy: fullCopy(c), delta: delta(c), deltaCached: deltaCached(c), deltaTracked: deltaTracked(c) };
}

type Context = ReturnType<typeof modelContext>;

/** The rates and helpers every estimate shares. */
function modelContext(m: ModelInput) {
  const parallel = Math.max(1, Math.min(m.cores, PARALLEL_BATCHES));
  const net = m.network;
  const reads = net?.targetReads;
  const writeRate = reads !== undefined && reads.alone > 0 ? reads.alone : m.readRate;
  const setup = m.startupSeconds + (net === undefined ? 0 : net.handshakeSeconds + 2 * net.rttSeconds);
  const fill = SAMPLE_CHUNK_BYTES / m.readRate + SAMPLE_CHUNK_BYTES / writeRate;
  const nonZero = m.dataBytes * (1 - m.zeroFraction);
  const ratio = m.compress ? Math.max(1, m.lz4Ratio) : 1;
  const changed = m.change * m.size;
  return {
    m,
    net,
    reads,
    writeRate,
    nonZero,
    ratio,
    parallel,
    changed,
    changedWire: changed / ratio + Math.ceil(changed / m.blockSize) * PER_CHANGED_BLOCK_BYTES,
    /** The two-level comparison's offers: a digest per fine piece of each changed block. */
    fineDigests: (changed / MIN_FINE_SIZE) * DIGEST_SIZE,
    digestRate: m.digestPerCore * parallel,
    blocks: (bytes: number) => Math.ceil(bytes / m.blockSize),
    messages: (bytes: number) => Math.ceil(bytes / SAMPLE_CHUNK_BYTES),
    stage: (name: string, bytes: number, rate: number): Stage => ({ name, bytes, seconds: bytes / rate }),
    estimate: (stages: Stage[], wireBytes: number): Estimate => {
      const slowest = stages.reduce((a, b) => (b.seconds > a.seconds ? b : a));
      return {
        seconds: setup + slowest.seconds + fill,
        bottleneck: slowest.name,
        stages,
        setupSeconds: setup + fill,
        wireBytes,
      };
    },
  };
}

function fullCopy(c: Context): Estimate {
  const { m, net, stage } = c;
  const wire =
    c.nonZero / c.ratio + c.blocks(m.dataBytes) * PER_BLOCK_BYTES + c.messages(m.dataBytes) * PER_MESSAGE_BYTES;
  const full: Stage[] = [stage("source read", m.dataBytes, m.readRate), stage("digests", m.dataBytes, c.digestRate)];
  if (m.compress) full.push(stage("lz4", c.nonZero, m.lz4PerCore * c.parallel));
  if (net !== undefined) full.push(stage("network", wire, net.goodput));
  full.push(stage("target write", c.nonZero, c.writeRate));
  return c.estimate(full, wire);
}

/** Delta: what changed, and what the target holds (no copy yet: what the full copy leaves, zeros as holes). */
function delta(c: Context): Prediction["delta"] {
  const { m, net, reads, changed, stage } = c;
  const holds =
    reads !== undefined && reads.dataBytes > 0
      ? reads.dataBytes
      : net?.targetIsBlockDevice
        ? Math.min(net.targetSize, m.size)
        : c.nonZero;
  // The two-level comparison reads each changed block on the target once more.
  const targetRead = holds + changed;
  const digestBytes = c.blocks(holds) * DIGEST_SIZE + c.messages(holds) * PER_MESSAGE_BYTES;
  // In step at the pace the probe measured; without it, each on a disk of its own at this host's rate.
  const inStep = reads !== undefined && reads.inStepSource > 0 && reads.inStepTarget > 0;
  const both =
    Math.max(
      m.dataBytes / (inStep ? reads.inStepSource : m.readRate),
      holds / (inStep ? reads.inStepTarget : c.writeRate),
    ) +
    changed / c.writeRate;
  const stages: Stage[] = [
    { name: BOTH_READS, bytes: m.dataBytes + targetRead, seconds: both },
    stage("digests", Math.max(m.dataBytes, targetRead), c.digestRate),
  ];
  if (m.compress) stages.push(stage("lz4", changed, m.lz4PerCore * c.parallel));
  if (net !== undefined) {
    const forward = c.changedWire + c.fineDigests;
    stages.push(
      forward >= digestBytes
        ? stage("network (changed blocks)", forward, net.goodput)
        : stage("network (digests back)", digestBytes, net.goodput),
    );
  }
  stages.push(stage("target write", changed, c.writeRate));
  const wire = c.changedWire + c.fineDigests + digestBytes;
  return { ...c.estimate(stages, wire), changedBytes: changed, digestBytes, targetReadBytes: targetRead };
}

/** Delta with the digest cache: the target reads only the changed blocks it is offered. */
function deltaCached(c: Context): Prediction["deltaCached"] {
  const { m, net, changed, stage } = c;
  const stages: Stage[] = [stage("source read", m.dataBytes, m.readRate), stage("digests", m.dataBytes, c.digestRate)];
  if (m.compress) stages.push(stage("lz4", changed, m.lz4PerCore * c.parallel));
  const wire = c.changedWire + c.fineDigests;
  if (net !== undefined) stages.push(stage("network (changed blocks)", wire, net.goodput));
  stages.push(stage("target read and write (changed blocks)", 2 * changed, c.writeRate));
  return { ...c.estimate(stages, wire), changedBytes: changed };
}

/** Change-tracked delta: the source reads only the chunks thin_delta names; the rest as with the cache. */
function deltaTracked(c: Context): Prediction["deltaTracked"] {
  const { m, net, changed, stage } = c;
  const sourceRead = Math.min(m.dataBytes, c.blocks(changed) * Math.max(m.blockSize, THIN_CHUNK_BYTES));
  const stages: Stage[] = [
    stage("source read (changed chunks)", sourceRead, m.readRate),
    stage("digests", sourceRead, c.digestRate),
  ];
  if (m.compress) stages.push(stage("lz4", changed, m.lz4PerCore * c.parallel));
  const wire = c.changedWire + c.fineDigests;
  if (net !== undefined) stages.push(stage("network (changed blocks)", wire, net.goodput));
  stages.push(stage("target read and write (changed blocks)", 2 * changed, c.writeRate));
  return { ...c.estimate(stages, wire), changedBytes: changed, sourceReadBytes: sourceRead };
}
