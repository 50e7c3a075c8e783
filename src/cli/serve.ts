import type { Command } from "commander";
import { serve } from "../job/receive.js";
import { checkReceiverSetup } from "../job/receiver-setup.js";
import { parseEndpoint } from "../transport/tcp.js";
import { invalid } from "../validate.js";
import { addReceiverOptions, type ReceiverFlags, receiverConfig, stderrLog } from "./receiver-options.js";
import {
  addServerSecurityOptions,
  allowedNames,
  type ServerSecurityFlags,
  serverSecurity,
} from "./security-options.js";

/** `blockferry serve`: a receiver daemon writing only the targets it is given. */
export function registerServe(program: Command): void {
  addServerSecurityOptions(
    addReceiverOptions(
      program
        .command("serve")
        .description("receive copies on a TCP port, from allowed sources, into the named targets only")
        .requiredOption("--listen <[host:]port>", "address to listen on (host defaults to 127.0.0.1)"),
    ),
  ).action(async (flags: ReceiverFlags & ServerSecurityFlags & { listen: string }) => {
    if (flags.target.length === 0) throw invalid("--target", "at least one NAME=PATH", "none");
    const at = parseEndpoint(flags.listen, "127.0.0.1");
    const config = receiverConfig(flags, stderrLog, true);
    await checkReceiverSetup(config, allowedNames(flags));
    const security = await serverSecurity(flags, stderrLog);
    const server = await serve(at, config, security);
    const address = server.address();
    stderrLog(
      `listening on ${typeof address === "object" && address ? `${address.address}:${address.port}` : flags.listen}`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
  });
}
