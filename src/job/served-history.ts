/** The receiver's history: one entry per sync it serves, beside the target's state file. */
import type { TransferStats } from "../engine/stats.js";
import { BlockferryError } from "../errors.js";
import { appendHistory, targetHistoryPath } from "./history.js";
import { type ReceiverConfig, statePath } from "./targets.js";

/**
 * Records a sync into target `name` that ended (`mode`: how it went) or
 * failed; a probe, or a peer refused before it named a target this receiver
 * has, leaves nothing.
 */
export async function recordServed(
  config: ReceiverConfig,
  name: string | undefined,
  peer: string,
  stats: TransferStats,
  outcome: { mode: string } | { error: unknown },
): Promise<void> {
  const target = name === undefined ? undefined : config.targets.get(name);
  if (target === undefined || ("mode" in outcome && outcome.mode === "probe")) return;
  const error = "error" in outcome ? outcome.error : undefined;
  const code = error === undefined ? undefined : error instanceof BlockferryError ? error.code : "E_INTERNAL";
  const entry = {
    at: new Date().toISOString(),
    // The receiving end of one `sync` over ssh: its target's name is internal, its path the user's.
    destination: config.forSync ? target.path : target.name,
    peer,
    ok: error === undefined,
    code,
    message: error instanceof Error ? error.message : undefined,
    mode: "mode" in outcome ? outcome.mode : undefined,
    seconds: stats.elapsedSeconds(),
    bytesRead: stats.readBytes,
    bytesReceived: stats.wireBytes,
  };
  const path = targetHistoryPath(await statePath(target, config.stateDir));
  await appendHistory(path, entry).catch((e: unknown) => {
    config.log(`warning: the history of ${target.name} was not written: ${e instanceof Error ? e.message : String(e)}`);
  });
}

/** `copy`, its ending (result or failure) recorded by recordServed before it settles; `name()`: the target it named. */
export function recordedServe<T extends { mode: string }>(
  copy: Promise<T>,
  config: ReceiverConfig,
  name: () => string | undefined,
  peer: string,
  stats: TransferStats,
): Promise<T> {
  return copy.then(
    async (r) => {
      await recordServed(config, name(), peer, stats, r);
      return r;
    },
    async (e: unknown) => {
      await recordServed(config, name(), peer, stats, { error: e });
      throw e;
    },
  );
}
