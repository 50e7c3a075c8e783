import type { Duplex } from "node:stream";
import type { Command } from "commander";
import { TransferStats } from "../engine/stats.js";
import { allows, receiveOne, tellRefusedPeer } from "../job/receive.js";
import { checkReceiverSetup, checkTargetsWritable } from "../job/receiver-setup.js";
import type { ReceiverConfig } from "../job/targets.js";
import { mark } from "../timeline.js";
import { listenSecure } from "../transport/secure.js";
import { stdioPeer, stdioStream } from "../transport/stdio.js";
import { parseEndpoint } from "../transport/tcp.js";
import { invalid } from "../validate.js";
import { addReceiverOptions, type ReceiverFlags, receiverConfig, stderrLog } from "./receiver-options.js";
import {
  addServerSecurityOptions,
  allowedNames,
  type ServerSecurityFlags,
  serverSecurity,
} from "./security-options.js";

/** `blockferry receive`: take one copy, on a port or on stdin/stdout, then exit. */
export function registerReceive(program: Command): void {
  addServerSecurityOptions(
    addReceiverOptions(
      program
        .command("receive")
        .description("receive one copy into a named target, then exit")
        .option("--listen <[host:]port>", "accept one connection from an allowed source on this address")
        .option("--stdio", "speak the protocol on stdin/stdout (as started by ssh, which authenticated the peer)")
        .option(
          "--check",
          "check that each target exists and may be written, or that --create may make it, then exit; nothing is written",
        ),
    ),
  ).action(
    async (flags: ReceiverFlags & ServerSecurityFlags & { listen?: string; stdio?: boolean; check?: boolean }) => {
      if (flags.target.length === 0) throw invalid("--target", "at least one NAME=PATH", "none");
      // Allowed: --listen, --stdio, or neither with --check (which checks the targets and serves nothing).
      const [listen, stdio] = [!!flags.listen, !!flags.stdio];
      if (listen && stdio) throw invalid("receive", "exactly one of --listen and --stdio", "both");
      if (!listen && !stdio && !flags.check) {
        throw invalid("receive", "exactly one of --listen and --stdio (or --check)", "neither");
      }
      // Under ssh, the receiving end of one `sync`: its target's name is internal, never shown.
      const config = { ...receiverConfig(flags, stderrLog, !flags.stdio), forSync: flags.stdio === true };
      await checkReceiverSetup(config, allowedNames(flags));
      if (flags.check) {
        // `run --check --connect` to an ssh destination: the receiving end as a sync would start it, dry.
        await checkTargetsWritable(config);
        return stderrLog(`${config.forSync ? "DEST" : "targets"} ready: nothing was written`);
      }
      const stats = new TransferStats();
      const peer: Peer = flags.stdio
        ? { stream: stdioStream(), authorize: () => {}, name: stdioPeer() }
        : await acceptOne(flags.listen as string, flags, config);
      const { stream } = peer;
      mark("accepted");
      try {
        const r = await receiveOne(stream, config, stats, peer.authorize, peer.name);
        stderrLog(
          r.mode === "probe"
            ? `${r.target} probed (blockferry bench), nothing written`
            : `${r.target} complete and verified, fingerprint ${r.fingerprint}`,
        );
      } finally {
        // stdout stays open for the process to flush at exit; a socket is closed here.
        if (!flags.stdio) stream.destroy();
      }
    },
  );
}

/** The one peer of `receive`: its stream, what it may write, and its name for the logs and the history. */
interface Peer {
  stream: Duplex;
  authorize: (target: string) => void;
  name: string;
}

/** Listens on `listen` until one source that proves itself and may write a target here connects. */
async function acceptOne(listen: string, flags: ServerSecurityFlags, config: ReceiverConfig): Promise<Peer> {
  const at = parseEndpoint(listen, "127.0.0.1");
  const security = await serverSecurity(flags, stderrLog);
  let accept: (p: Peer) => void = () => {};
  const accepted = new Promise<Peer>((resolve) => (accept = resolve));
  let taken = false;
  // The first peer that proves itself gets the copy; refused ones are logged and do not end the wait.
  const server = await listenSecure(
    at,
    security,
    (stream, name, authorize) => {
      if (taken) return stream.destroy(); // one copy only: later connections are turned away
      // A key that may write none of our targets must not use up the one copy.
      if (![...config.targets.keys()].some(allows(authorize))) {
        stderrLog(`${name}: refused: this key may write none of this receiver's targets`);
        return stream.destroy();
      }
      taken = true;
      accept({ stream, authorize, name });
    },
    stderrLog,
    tellRefusedPeer,
  );
  const address = server.address();
  stderrLog(`listening on ${typeof address === "object" && address ? `${address.address}:${address.port}` : listen}`);
  const peer = await accepted;
  server.close();
  return peer;
}
