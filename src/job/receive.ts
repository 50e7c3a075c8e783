/** The receiving end: one connection, or a server taking many. */
import type { Server, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { tellPeer } from "../engine/peer.js";
import { TransferStats } from "../engine/stats.js";
import { type ProbeResult, runTarget, type TargetResult } from "../engine/target.js";
import { BlockferryError } from "../errors.js";
import { quoted } from "../printable.js";
import { FrameChannel } from "../protocol/frames.js";
import { listenSecure, type OnPeer, type ServerSecurity, type TellRefused } from "../transport/secure.js";
import type { Endpoint } from "../transport/tcp.js";
import { recordedServe } from "./served-history.js";
import { type ReceiverConfig, receiverResolver } from "./targets.js";

/**
 * Receives one copy over `stream`; `authorize` throws for a target this peer
 * may not write. With `peer` (a receiver's, not a local sync's target role),
 * the sync is recorded in the target's history, as `serve` records its own.
 */
export async function receiveOne(
  stream: Duplex,
  config: ReceiverConfig,
  stats: TransferStats,
  authorize: (target: string) => void = () => {},
  peer?: string,
): Promise<TargetResult | ProbeResult> {
  const resolver = receiverResolver(config, allows(authorize));
  let named: string | undefined;
  const copy = runTarget({
    channel: new FrameChannel(stream),
    resolve: async (hello) => {
      authorizeTarget(config, authorize, hello.targetName);
      named = hello.targetName;
      return resolver(hello);
    },
    stats,
    log: config.log,
    checkpointBytes: config.checkpointBytes,
  });
  return peer === undefined ? copy : recordedServe(copy, config, () => named, peer, stats);
}

/**
 * A name this receiver has no target for is unknown (E_UNKNOWN_TARGET), and
 * the peer hears the names its key may write; a target it has but this key
 * may not write is refused (E_AUTH). Neither lists a target the key may not write.
 */
export function authorizeTarget(config: ReceiverConfig, authorize: (target: string) => void, name: string): void {
  if (!config.targets.has(name)) {
    const mine = [...config.targets.keys()].filter(allows(authorize));
    throw new BlockferryError(
      "E_UNKNOWN_TARGET",
      `no target named ${quoted(name)} here; this key may write: ${mine.length === 0 ? "(none)" : mine.join(", ")}`,
    );
  }
  authorize(name);
}

/** A peer that proved a key not allowed here hears why (ERROR), then the connection ends. */
export const tellRefusedPeer: TellRefused = (stream, error) => tellPeer(new FrameChannel(stream), error);

/** `authorize` as a predicate. */
export function allows(authorize: (target: string) => void): (name: string) => boolean {
  return (name) => {
    try {
      authorize(name);
      return true;
    } catch {
      return false;
    }
  };
}

/** How long a new writer waits for the previous one's connection to wind down. */
const CLAIM_WAIT_MS = 10_000;

/**
 * Serves copies on a TCP port until closed, to peers that prove themselves
 * (see src/transport/secure.ts). One writer per target: a second connection
 * for a target being written waits a little (a source killed and restarted at
 * once finds its old connection still closing), then is refused. Every
 * refusal and failure is logged with the peer's address; the server goes on.
 */
export async function serve(at: Endpoint, config: ReceiverConfig, security: ServerSecurity): Promise<Server> {
  const busy = new Map<string, Promise<void>>();
  const resolver = receiverResolver(config);
  const open = new Set<Duplex>();
  let closing = false;
  const onPeer: OnPeer = (socket, peer, authorize) => {
    // Still in its handshake when the server closed: no copy starts after that.
    if (closing) return socket.destroy();
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    let claimed: string | undefined;
    let release: () => void = () => {};
    const stats = new TransferStats();
    const copy = runTarget({
      channel: new FrameChannel(socket),
      resolve: async (hello) => {
        const name = hello.targetName;
        authorizeTarget(config, authorize, name); // a peer hears only of the targets it may write
        const deadline = Date.now() + CLAIM_WAIT_MS;
        for (let held = busy.get(name); held !== undefined; held = busy.get(name)) {
          const left = deadline - Date.now();
          if (left <= 0) throw new BlockferryError("E_BUSY", `target "${name}" is being written by another connection`);
          await Promise.race([held, new Promise((r) => setTimeout(r, left))]);
        }
        busy.set(name, new Promise<void>((r) => (release = r)));
        claimed = name;
        return resolver(hello);
      },
      stats,
      log: (line) => config.log(`${peer}: ${line}`),
      checkpointBytes: config.checkpointBytes,
    });
    recordedServe(copy, config, () => claimed, peer, stats)
      .then((r) => {
        const mb = stats.wireBytes / 1e6 / Math.max(stats.elapsedSeconds(), 1e-3);
        config.log(
          r.mode === "probe"
            ? `${peer}: ${r.target} probed (blockferry bench), nothing written`
            : `${peer}: ${r.target} complete and verified, fingerprint ${r.fingerprint} (${mb.toFixed(0)} MB/s)`,
        );
      })
      .catch((e: unknown) => {
        const why = e instanceof BlockferryError ? `${e.code}: ${e.message}` : String(e);
        config.log(`${peer}: refused or failed: ${why}`);
      })
      .finally(() => {
        if (claimed !== undefined) busy.delete(claimed);
        release();
        socket.destroy();
      });
  };
  const server = await listenSecure(at, security, onPeer, config.log, tellRefusedPeer);
  // Closing the server also drops copies under way: their targets stay marked incomplete.
  const close = server.close.bind(server);
  server.on("connection", (s: Socket) => {
    open.add(s);
    s.once("close", () => open.delete(s));
  });
  server.close = (callback) => {
    closing = true;
    for (const s of open) s.destroy();
    return close(callback);
  };
  return server;
}
