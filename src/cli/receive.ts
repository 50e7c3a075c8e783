import type { Duplex } from "node:stream";
import type { Command } from "commander";
import { TransferStats } from "../engine/stats.js";
import { allows, receiveOne, tellRefusedPeer } from "../job/receive.js";
import { checkReceiverSetup } from "../job/receiver-setup.js";
import { listenSecure } from "../transport/secure.js";
import { stdioStream } from "../transport/stdio.js";
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
        .option("--stdio", "speak the protocol on stdin/stdout (as started by ssh, which authenticated the peer)"),
    ),
  ).action(async (flags: ReceiverFlags & ServerSecurityFlags & { listen?: string; stdio?: boolean }) => {
    if (flags.target.length === 0) throw invalid("--target", "at least one NAME=PATH", "none");
    if (!!flags.listen === !!flags.stdio)
      throw invalid("receive", "exactly one of --listen and --stdio", "both or neither");
    // Under ssh, the receiving end of one `sync`: its target's name is internal, never shown.
    const config = { ...receiverConfig(flags, stderrLog, !flags.stdio), forSync: flags.stdio === true };
    await checkReceiverSetup(config, allowedNames(flags));
    const stats = new TransferStats();
    let stream: Duplex;
    let authorize: (target: string) => void = () => {};
    if (flags.stdio) {
      stream = stdioStream();
    } else {
      const at = parseEndpoint(flags.listen as string, "127.0.0.1");
      const security = await serverSecurity(flags, stderrLog);
      let accept: (s: Duplex) => void = () => {};
      const accepted = new Promise<Duplex>((resolve) => (accept = resolve));
      let taken = false;
      // The first peer that proves itself gets the copy; refused ones are logged and do not end the wait.
      const server = await listenSecure(
        at,
        security,
        (s, peer, allowed) => {
          if (taken) return s.destroy(); // one copy only: later connections are turned away
          // A key that may write none of our targets must not use up the one copy.
          if (![...config.targets.keys()].some(allows(allowed))) {
            stderrLog(`${peer}: refused: this key may write none of this receiver's targets`);
            return s.destroy();
          }
          taken = true;
          authorize = allowed;
          accept(s);
        },
        stderrLog,
        tellRefusedPeer,
      );
      const address = server.address();
      stderrLog(
        `listening on ${typeof address === "object" && address ? `${address.address}:${address.port}` : flags.listen}`,
      );
      stream = await accepted;
      server.close();
    }
    try {
      const r = await receiveOne(stream, config, stats, authorize);
      stderrLog(
        r.mode === "probe"
          ? `${r.target} probed (blockferry bench), nothing written`
          : `${r.target} complete and verified, fingerprint ${r.fingerprint}`,
      );
    } finally {
      // stdout stays open for the process to flush at exit; a socket is closed here.
      if (!flags.stdio) stream.destroy();
    }
  });
}
