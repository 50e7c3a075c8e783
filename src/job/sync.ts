/**
 * One sync job: a push (this host reads the source: to a local path, a
 * receiver over TCP, or `receive --stdio` over ssh; push.ts) or a pull (the
 * source is host:/path over ssh; pull.ts).
 */
import { parseSshSpec } from "../transport/destination.js";
import { invalid } from "../validate.js";
import { pullOverSsh } from "./pull.js";
import { push } from "./push.js";
import type { SyncJobOptions, SyncOutcome } from "./sync-types.js";

export type { SyncJobOptions, SyncOutcome } from "./sync-types.js";
export { syncFacts } from "./sync-types.js";

export async function runSync(o: SyncJobOptions): Promise<SyncOutcome> {
  // A source is remote only as host:/path; any other name (even "disk:1.img") is a local file.
  const remoteSource = parseSshSpec(o.source, "SOURCE");
  if (remoteSource === undefined) return push(o);
  if ((o.dirs ?? []).length > 0) {
    throw invalid("--with-dir", "a local SOURCE (directories go from the source's host)", o.source);
  }
  return pullOverSsh(remoteSource, o);
}
