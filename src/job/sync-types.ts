/** What one sync job is given, and how it ended (push: this host is the source; pull: the target). */
import type { DirReport, DirSpec } from "../engine/dir-transfer.js";
import type { SourceResult } from "../engine/source.js";
import type { TrackedChanges } from "../engine/source-types.js";
import type { TransferStats } from "../engine/stats.js";
import type { TargetResult } from "../engine/target.js";
import type { Destination } from "../transport/destination.js";
import type { ClientSecurity } from "../transport/secure.js";
import type { SshOptions } from "../transport/ssh.js";
import type { KeepGood } from "./keep-good.js";
import type { SourceSettings } from "./source-setup.js";

export interface SyncJobOptions extends SourceSettings {
  source: string;
  destination: Destination;
  /** Local destination: create a missing image file. */
  create: boolean;
  /** Local or ssh destination: keep the last good copy while the sync writes it (--keep-good). */
  keepGood?: KeepGood | undefined;
  stateDir: string;
  /** Where the digest caches of destinations live. */
  cacheDir: string;
  /** How to reach a network destination (TLS, or a shared secret in plaintext). */
  security: () => Promise<ClientSecurity>;
  /** How to reach an ssh destination. */
  ssh: SshOptions;
  stats: TransferStats;
  log: (line: string) => void;
  /** --with-dir: directories sent once the copy is confirmed. */
  dirs?: DirSpec[] | undefined;
  /** Names the source to the target (default: this host and the source's real path). */
  sourceId?: string | undefined;
  /** Called once every block is read, before the end of the copy (see SourceOptions.beforeEnd). */
  beforeEnd?: (() => Promise<void>) | undefined;
  /** Change tracking: what changed since the base snapshot (a push only; see SourceOptions.changes). */
  changes?: TrackedChanges | undefined;
  /** Aborting tears the connection down: the sync fails, and the target stays marked incomplete. */
  signal?: AbortSignal | undefined;
}

/**
 * How a sync ended, from the side this process ran: a push (with the target's
 * result too when the destination was local, both roles here), or a pull.
 */
export type SyncOutcome =
  | { direction: "push"; source: SourceResult; target: TargetResult | undefined }
  | { direction: "pull"; target: TargetResult };

/** What a summary reports of any sync, whichever side this process ran. */
export function syncFacts(o: SyncOutcome): {
  compared: boolean;
  cached: boolean;
  fingerprint: string;
  dirs: DirReport[];
} {
  if (o.direction === "push") {
    const { compared, cached, fingerprint, dirs } = o.source;
    return { compared, cached, fingerprint, dirs };
  }
  const t = o.target;
  return {
    compared: t.mode !== "copy",
    cached: t.mode === "cached" || t.mode === "tracked",
    fingerprint: t.fingerprint,
    dirs: t.dirs,
  };
}
