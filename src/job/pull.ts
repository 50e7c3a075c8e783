/**
 * A remote source over ssh: `blockferry sync [user@]host:/dev/x LOCAL` starts
 * `blockferry send --stdio` on the remote host, which reads its volume and
 * runs the source role on ssh's stdin/stdout, while this process writes the
 * local target. Failback from a secondary reached by ssh is then one command
 * on the repaired primary. The source's digest cache lives on the remote host.
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { withRemote } from "../transport/ssh.js";
import { destroyOnAbort } from "./abort.js";
import { receiveOne } from "./receive.js";
import { checkReceiverSetup } from "./receiver-setup.js";
import { sendArgs } from "./source-setup.js";
import type { SyncJobOptions, SyncOutcome } from "./sync-types.js";
import { checkLocalDirectory, localTargetName, targetMap } from "./targets.js";

export async function pullOverSsh(from: { host: string; path: string }, o: SyncJobOptions): Promise<SyncOutcome> {
  const dest = o.destination;
  if (dest.kind !== "local") {
    throw new BlockferryError("E_INVALID_ARG", "DEST: expected a local path when the source is remote (host:/path)");
  }
  const local = resolve(dest.path);
  const name = localTargetName(local);
  // The remote keeps one cache per (this host, this path).
  const cacheKey = `pull://${hostname()}${local}`;
  const args = ["send", "--stdio", "--target-name", name, "--cache-key", cacheKey, ...sendArgs(o), from.path];
  const keepGood = o.keepGood === undefined ? undefined : new Map([[name, o.keepGood]]);
  const targets = targetMap([{ name, path: dest.path }]);
  const config = { targets, create: o.create, stateDir: o.stateDir, keepGood, log: o.log, forSync: true };
  await checkLocalDirectory(dest.path);
  await checkReceiverSetup(config);
  const target = await withRemote(from.host, args, o.ssh, o.log, async (stream) => {
    const release = destroyOnAbort(o.signal, stream);
    try {
      return await receiveOne(stream, config, o.stats);
    } finally {
      release();
    }
  });
  if (target.mode === "probe") throw protocolError("the remote source sent a probe instead of a sync");
  return { direction: "pull", target };
}
