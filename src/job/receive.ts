/** The receiving end: one connection, or a server taking many. */
import type { Server, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TransferStats } from "../engine/stats.js";
import { runTarget, type TargetResult } from "../engine/target.js";
import { BlockferryError } from "../errors.js";
import { FrameChannel } from "../protocol/frames.js";
import { type Endpoint, listenTcp } from "../transport/tcp.js";
import { type ReceiverConfig, receiverResolver } from "./targets.js";

/** Receives one copy over `stream`. */
export async function receiveOne(stream: Duplex, config: ReceiverConfig, stats: TransferStats): Promise<TargetResult> {
  return runTarget({
    channel: new FrameChannel(stream),
    resolve: receiverResolver(config),
    stats,
    log: config.log,
    checkpointBytes: config.checkpointBytes,
  });
}

/**
 * Serves copies on a TCP port until closed. One writer per target: a second
 * connection for a target being written is refused. Every refusal and failure
 * is logged with the peer's address; the server goes on.
 */
export async function serve(at: Endpoint, config: ReceiverConfig): Promise<Server> {
  const busy = new Set<string>();
  const resolver = receiverResolver(config);
  return listenTcp(at, (socket: Socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    let claimed: string | undefined;
    const stats = new TransferStats();
    runTarget({
      channel: new FrameChannel(socket),
      resolve: async (hello) => {
        if (busy.has(hello.targetName)) {
          throw new BlockferryError("E_BUSY", `target "${hello.targetName}" is being written by another connection`);
        }
        busy.add(hello.targetName);
        claimed = hello.targetName;
        return resolver(hello);
      },
      stats,
      log: (line) => config.log(`${peer}: ${line}`),
      checkpointBytes: config.checkpointBytes,
    })
      .then((r) => {
        const mb = stats.wireBytes / 1e6 / Math.max(stats.elapsedSeconds(), 1e-3);
        config.log(`${peer}: ${r.target} complete and verified, fingerprint ${r.fingerprint} (${mb.toFixed(0)} MB/s)`);
      })
      .catch((e: unknown) => {
        const why = e instanceof BlockferryError ? `${e.code}: ${e.message}` : String(e);
        config.log(`${peer}: refused or failed: ${why}`);
      })
      .finally(() => {
        if (claimed !== undefined) busy.delete(claimed);
        socket.destroy();
      });
  });
}
