/**
 * One sync job: open the source, reach the destination through its transport,
 * run the source role (and, for a local destination, the target role in this
 * process over an in-memory pair), and report.
 */
import { realpath, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { RateLimiter } from "../engine/rate-limit.js";
import { runSource, type SourceResult } from "../engine/source.js";
import { TransferStats } from "../engine/stats.js";
import type { TargetResult } from "../engine/target.js";
import { BlockferryError } from "../errors.js";
import { openVolume } from "../native/index.js";
import { FrameChannel } from "../protocol/frames.js";
import type { Destination } from "../transport/destination.js";
import { memoryPair } from "../transport/memory.js";
import { connectTcp } from "../transport/tcp.js";
import { receiveOne } from "./receive.js";
import { targetMap } from "./targets.js";

export interface SyncJobOptions {
  source: string;
  destination: Destination;
  blockSize: number;
  compress: boolean;
  full: boolean;
  verify: boolean;
  dryRun: boolean;
  /** Bytes per second on the wire, or undefined for no limit. */
  bwlimit: number | undefined;
  /** Local destination: create a missing image file. */
  create: boolean;
  stateDir: string;
  stats: TransferStats;
  log: (line: string) => void;
}

export interface SyncOutcome {
  source: SourceResult;
  /** Present for a local destination, where this process also ran the target. */
  target: TargetResult | undefined;
}

export async function runSync(o: SyncJobOptions): Promise<SyncOutcome> {
  const volume = await openVolume(o.source);
  try {
    const sourceId = `${hostname()}:${await realpath(o.source)}`;
    const common = {
      volume,
      sourceId,
      blockSize: o.blockSize,
      compress: o.compress,
      full: o.full,
      verify: o.verify,
      dryRun: o.dryRun,
      rateLimiter: o.bwlimit === undefined ? undefined : new RateLimiter(o.bwlimit),
      stats: o.stats,
      log: o.log,
    };
    const dest = o.destination;
    if (dest.kind === "tcp") {
      const socket = await connectTcp(dest.endpoint);
      try {
        return {
          source: await runSource({ ...common, channel: new FrameChannel(socket), targetName: dest.targetName }),
          target: undefined,
        };
      } finally {
        socket.destroy();
      }
    }
    await refuseSameFile(o.source, dest.path);
    const pair = memoryPair();
    const targets = targetMap([{ name: "local", path: dest.path }]);
    const target = receiveOne(
      pair.b,
      { targets, create: o.create, stateDir: o.stateDir, log: o.log },
      new TransferStats(),
    );
    const source = runSource({ ...common, channel: new FrameChannel(pair.a), targetName: "local" });
    const [s, t] = await Promise.allSettled([source, target]);
    // The target's reason is the one to report when both failed (the source only saw the pipe close).
    if (t.status === "rejected" && (s.status === "rejected" || !(t.reason instanceof BlockferryError))) throw t.reason;
    if (s.status === "rejected") throw s.reason;
    return { source: s.value, target: t.status === "fulfilled" ? t.value : undefined };
  } finally {
    await volume.close();
  }
}

async function refuseSameFile(source: string, target: string): Promise<void> {
  const [a, b] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
  if (b !== undefined && a.dev === b.dev && a.ino === b.ino) {
    throw new BlockferryError("E_INVALID_ARG", `DEST: expected another volume than the source, got ${target}`);
  }
}
