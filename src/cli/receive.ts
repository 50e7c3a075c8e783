import type { Command } from "commander";
import { TransferStats } from "../engine/stats.js";
import { receiveOne } from "../job/receive.js";
import { stdioStream } from "../transport/stdio.js";
import { listenTcp, parseEndpoint } from "../transport/tcp.js";
import { invalid } from "../validate.js";
import { addReceiverOptions, type ReceiverFlags, receiverConfig, stderrLog } from "./receiver-options.js";

/** `blockferry receive`: take one copy, on a port or on stdin/stdout, then exit. */
export function registerReceive(program: Command): void {
  addReceiverOptions(
    program
      .command("receive")
      .description("receive one copy into a named target, then exit")
      .option("--listen <[host:]port>", "accept one connection on this address")
      .option("--stdio", "speak the protocol on stdin/stdout (as started by ssh)"),
  ).action(async (flags: ReceiverFlags & { listen?: string; stdio?: boolean }) => {
    if (flags.target.length === 0) throw invalid("--target", "at least one NAME=PATH", "none");
    if (!!flags.listen === !!flags.stdio)
      throw invalid("receive", "exactly one of --listen and --stdio", "both or neither");
    const config = receiverConfig(flags, stderrLog);
    const stats = new TransferStats();
    let stream: import("node:stream").Duplex;
    if (flags.stdio) {
      stream = stdioStream();
    } else {
      const at = parseEndpoint(flags.listen as string, "127.0.0.1");
      let accept: (s: import("node:net").Socket) => void = () => {};
      const accepted = new Promise<import("node:net").Socket>((resolve) => (accept = resolve));
      let taken = false;
      const server = await listenTcp(at, (s) => {
        if (taken) return s.destroy(); // one copy only: later connections are turned away
        taken = true;
        accept(s);
      });
      const address = server.address();
      stderrLog(
        `listening on ${typeof address === "object" && address ? `${address.address}:${address.port}` : flags.listen}`,
      );
      stream = await accepted;
      server.close();
    }
    try {
      const r = await receiveOne(stream, config, stats);
      stderrLog(`${r.target} complete and verified, fingerprint ${r.fingerprint}`);
    } finally {
      // stdout stays open for the process to flush at exit; a socket is closed here.
      if (!flags.stdio) stream.destroy();
    }
  });
}
