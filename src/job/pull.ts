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
import type { Destination } from "../transport/destination.js";
import { withRemote } from "../transport/ssh.js";
import { receiveOne } from "./receive.js";
import type { SyncJobOptions, SyncOutcome } from "./sync.js";
import { localTargetName, targetMap } from "./targets.js";

export async function pullOverSsh(from: { host: string; path: string }, o: SyncJobOptions): Promise<SyncOutcome> {
  const dest: Destination = o.destination;
  if (dest.kind !== "local") {
    throw new BlockferryError("E_INVALID_ARG", "DEST: expected a local path when the source is remote (host:/path)");
  }
  const local = resolve(dest.path);
  const name = localTargetName(local);
  const args = [
    "send",
    "--stdio",
    "--target-name",
    name,
    "--block-size",
    String(o.blockSize),
    "--fine-block-size",
    String(o.fineSize < o.blockSize ? o.fineSize : 0),
    "--compress",
    o.compress ? "lz4" : "none",
    "--cache-runs",
    String(o.cacheRuns),
    // The remote keeps one cache per (this host, this path).
    "--cache-key",
    `pull://${hostname()}${local}`,
    ...(o.full ? ["--full"] : []),
    ...(o.verify ? ["--verify"] : []),
    ...(o.dryRun ? ["--dry-run"] : []),
    ...(o.readCache ? [] : ["--no-cache"]),
    ...(o.allowLive ? ["--allow-live"] : []),
    ...(o.bwlimit === undefined ? [] : ["--bwlimit", String(o.bwlimit)]),
    from.path,
  ];
  const config = {
    targets: targetMap([{ name, path: dest.path }]),
    create: o.create,
    stateDir: o.stateDir,
    log: o.log,
  };
  const target = await withRemote(from.host, args, o.ssh, o.log, (stream) => receiveOne(stream, config, o.stats));
  if (target.mode === "probe") throw protocolError("the remote source sent a probe instead of a sync");
  const source = {
    fingerprint: target.fingerprint,
    resumedFromBlock: target.resumedFromBlock,
    compared: target.mode !== "copy",
    cached: target.mode === "cached",
    stats: o.stats,
    dirs: [],
  };
  return { source, target };
}
