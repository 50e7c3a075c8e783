/**
 * A change-tracked sync on the source: thin_delta listed the blocks that
 * changed since the snapshot the last sync read, so only those are read and
 * compared with the digest cache; the cache's digests stand for every other
 * block, and for the target's, as in any cached sync (the target reads only
 * the blocks offered to it and checks recorded − replaced + written against
 * END). Used only when that holds: the target took the cache, and the cache is
 * of the very sync that read the base snapshot (same fingerprint).
 */
import type { ThinDelta } from "../host/thin-delta.js";
import { type BlockRange, changedBlocks } from "../host/thin-delta.js";
import type { CachedDigests } from "./digest-cache.js";
import { trackingRefusal } from "./source-handshake.js";
import type { SourceSession } from "./source-session.js";
import type { SourceOptions } from "./source-types.js";

/** The blocks to handle when change tracking applies; undefined (and a line saying why) when it does not. */
export function trackedRanges(
  o: SourceOptions,
  offered: CachedDigests | undefined,
  session: SourceSession,
): BlockRange[] | undefined {
  const changes = o.changes;
  if (changes === undefined) return undefined;
  const why = trackingRefusal(o, offered) || afterWelcome(session);
  if (why !== "") {
    o.log?.(`change tracking not used: ${why}; comparing every block (hash delta)`);
    return undefined;
  }
  return changedBlocks(changes.delta, o.volume.size, o.blockSize);
}

/** After WELCOME: the target took the cache, and the sync starts at block 0. */
function afterWelcome(session: SourceSession): string {
  if (!session.welcome.cached) return "the target did not take the digest cache";
  if (session.fromBlock !== 0) return "an interrupted copy is resumed";
  return "";
}

/** Bytes of the ranges to read, for the log. */
export function rangeBytes(ranges: readonly BlockRange[], blockSize: number): number {
  return ranges.reduce((n, r) => n + (r.kind === "read" ? r.count * blockSize : 0), 0);
}

export type { ThinDelta };
