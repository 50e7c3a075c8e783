import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { FileDigestCache } from "../../src/engine/digest-cache.js";
import type { TrackedChanges } from "../../src/engine/source-types.js";
import { TransferStats } from "../../src/engine/stats.js";
import { copyInProcess, fulfilled, MemoryStateStore, writeMixedImage } from "./engine.js";

export interface PairSyncOptions {
  readCache?: boolean;
  cut?: number;
  verify?: boolean;
  cacheRuns?: number;
  force?: boolean;
  /** Change tracking: what changed since the last sync's snapshot. */
  changes?: TrackedChanges;
  /** The two-level comparison's piece size (0, the default here: off). */
  fineSize?: number;
  /** The target's checkpoint interval (default CHECKPOINT_BYTES). */
  checkpointBytes?: number;
}

/**
 * A source image in `dir` (seeded, or a copy of `from`), a target, the
 * target's state and the source's cache of it, synced once.
 */
export async function syncedPair(
  dir: string,
  name: string,
  seed: number,
  size: number,
  blockSize = 65536,
  from?: string,
) {
  const source = join(dir, `${name}-src.img`);
  const target = join(dir, `${name}-dst.img`);
  const cachePath = join(dir, `${name}.digests`);
  if (from === undefined) writeMixedImage(source, size, seed);
  else execFileSync("cp", ["--sparse=always", from, source]);
  const state = new MemoryStateStore();
  const warnings: string[] = [];
  const cache = new FileDigestCache(cachePath, `local:${target}`, (line) => warnings.push(line));
  const sync = async (extra: PairSyncOptions = {}) => {
    const stats = new TransferStats();
    const targetStats = new TransferStats();
    const logs: string[] = [];
    const r = await copyInProcess({
      source,
      target,
      state,
      blockSize,
      ...(extra.cut === undefined ? {} : { cutAfterBytes: extra.cut }),
      source_: {
        cache,
        readCache: extra.readCache ?? true,
        force: extra.force ?? false,
        cacheRuns: extra.cacheRuns ?? 6,
        verify: extra.verify ?? false,
        changes: extra.changes,
        fineSize: extra.fineSize ?? 0,
        stats,
        log: (l) => logs.push(l),
      },
      target_: { stats: targetStats, checkpointBytes: extra.checkpointBytes },
    });
    return { ...r, stats, targetStats, logs };
  };
  const first = fulfilled((await sync()).source);
  return { source, target, cachePath, cache, state, warnings, sync, firstFingerprint: first.fingerprint };
}
