/**
 * A push: this host reads the source and runs the source role, to a local
 * path (the target role in this process too, over an in-memory pair), to a
 * receiver over TCP, or to `blockferry receive --stdio` started over ssh.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { SourceOptions } from "../engine/source.js";
import { runSource } from "../engine/source.js";
import { TransferStats } from "../engine/stats.js";
import { BlockferryError } from "../errors.js";
import { FrameChannel } from "../protocol/frames.js";
import { mark } from "../timeline.js";
import { memoryPair } from "../transport/memory.js";
import { connectSecure } from "../transport/secure.js";
import { withRemote } from "../transport/ssh.js";
import { invalid } from "../validate.js";
import { destroyOnAbort, throwIfAborted } from "./abort.js";
import { destinationKey, digestCacheAt } from "./digest-caches.js";
import { receiveOne } from "./receive.js";
import { checkReceiverSetup } from "./receiver-setup.js";
import { openSource, sourceIdOf, sourceOptions } from "./source-setup.js";
import type { SyncJobOptions, SyncOutcome } from "./sync-types.js";
import { checkLocalDirectory, localTargetName, targetMap } from "./targets.js";

type Common = Omit<SourceOptions, "channel" | "targetName">;

export async function push(o: SyncJobOptions): Promise<SyncOutcome> {
  const volume = await openSource(o.source, o, o.log);
  mark("source opened");
  try {
    const cache = digestCacheAt(o.cacheDir, destinationKey(o.destination), o.log);
    const sourceId = o.sourceId ?? (await sourceIdOf(o.source));
    const common = {
      ...sourceOptions(o, volume, sourceId, cache, o.stats, o.log),
      dirs: o.dirs,
      beforeEnd: o.beforeEnd,
      changes: o.changes,
    };
    const dest = o.destination;
    if (dest.kind === "tcp") {
      if (o.keepGood !== undefined) {
        throw invalid(
          "--keep-good",
          "a local or ssh DEST (a receiver keeps its own: serve --keep-good)",
          dest.targetName,
        );
      }
      const socket = await connectSecure(dest.endpoint, await o.security(), o.log);
      mark("connected");
      const release = destroyOnAbort(o.signal, socket);
      try {
        const channel = new FrameChannel(socket);
        return {
          direction: "push",
          source: await runSource({ ...common, channel, targetName: dest.targetName }),
          target: undefined,
        };
      } finally {
        release();
        socket.destroy();
      }
    }
    if (dest.kind === "ssh") return { direction: "push", source: await overSsh(dest, o, common), target: undefined };
    return await toLocal(dest.path, o, common);
  } finally {
    await volume.close();
  }
}

/** Both roles in this process: the target writes a local path. */
async function toLocal(path: string, o: SyncJobOptions, common: Common): Promise<SyncOutcome> {
  await refuseSameFile(o.source, path);
  // Named after its path: each local device then has a state file of its own in the state directory.
  const name = localTargetName(resolve(path));
  const targets = targetMap([{ name, path }]);
  const allowDirs = (o.dirs ?? []).map((d) => ({ name, dir: d.dest }));
  const keepGood = o.keepGood === undefined ? undefined : new Map([[name, o.keepGood]]);
  const config = { targets, create: o.create, stateDir: o.stateDir, allowDirs, keepGood, log: o.log, forSync: true };
  await checkLocalDirectory(path);
  await checkReceiverSetup(config);
  // The link is torn down on abort only once both roles listen to it: an error emitted before is uncaught.
  throwIfAborted(o.signal);
  const pair = memoryPair();
  const release = destroyOnAbort(o.signal, pair.a, pair.b);
  const target = receiveOne(pair.b, config, new TransferStats());
  const source = runSource({ ...common, channel: new FrameChannel(pair.a), targetName: name });
  const [s, t] = await Promise.allSettled([source, target]);
  release();
  // The target's reason is the one to report when both failed (the source only saw the pipe close).
  if (t.status === "rejected" && (s.status === "rejected" || !(t.reason instanceof BlockferryError))) throw t.reason;
  if (s.status === "rejected") throw s.reason;
  // A local target is never probed: its result is a sync's.
  const received = t.status === "fulfilled" && t.value.mode !== "probe" ? t.value : undefined;
  return { direction: "push", source: s.value, target: received };
}

/** The remote end is `blockferry receive --stdio` for that one path, started through ssh. */
async function overSsh(dest: { host: string; path: string }, o: SyncJobOptions, common: Common) {
  const { name, args } = remoteReceive(dest.path, o);
  return withRemote(dest.host, args, o.ssh, o.log, async (stream) => {
    const release = destroyOnAbort(o.signal, stream);
    try {
      return await runSource({ ...common, channel: new FrameChannel(stream), targetName: name });
    } finally {
      release();
    }
  });
}

/**
 * The command line of the remote end of a sync to an ssh destination's
 * `path`, and the target name it gives that path: one for the sync, `bench
 * --to` and `run --check --connect`.
 */
export function remoteReceive(
  path: string,
  o: Partial<Pick<SyncJobOptions, "create" | "keepGood" | "dirs">> = {},
): { name: string; args: string[] } {
  const name = localTargetName(path);
  const args = ["receive", "--stdio", "--target", `${name}=${path}`, ...(o.create ? ["--create"] : [])];
  if (o.keepGood !== undefined) args.push("--keep-good", `${name}=${o.keepGood.method}`);
  if (o.keepGood?.size !== undefined) args.push("--keep-good-size", `${name}=${o.keepGood.size}`);
  // The user names the directories on the remote host: its receiver may place exactly those.
  for (const dir of o.dirs ?? []) args.push("--allow-dir", `${name}=${dir.dest}`);
  return { name, args };
}

async function refuseSameFile(source: string, target: string): Promise<void> {
  const [a, b] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
  if (b !== undefined && a.dev === b.dev && a.ino === b.ino) {
    throw new BlockferryError("E_INVALID_ARG", `DEST: expected another volume than the source, got ${target}`);
  }
}
