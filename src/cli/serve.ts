import type { Command } from "commander";
import { serve } from "../job/receive.js";
import { checkReceiverSetup } from "../job/receiver-setup.js";
import { parseEndpoint } from "../transport/tcp.js";
import { addReceiverOptions, receiverConfig, stderrLog } from "./receiver-options.js";
import { addServerSecurityOptions, allowedNames, serverSecurity } from "./security-options.js";
import { allTargets, reloadOnHangup, type ServeFlags } from "./serve-reload.js";

/** `blockferry serve`: a receiver daemon writing only the targets it is given. */
export function registerServe(program: Command): void {
  addServerSecurityOptions(
    addReceiverOptions(
      program
        .command("serve")
        .description("receive copies on a TCP port, from allowed sources, into the named targets only")
        .requiredOption("--listen <[host:]port>", "address to listen on (host defaults to 127.0.0.1)")
        .option(
          "--targets-file <file>",
          "more targets, lines of NAME=PATH; read again with the allow list on SIGHUP (systemctl reload)",
        ),
    ),
  ).action(async (flags: ServeFlags) => {
    const at = parseEndpoint(flags.listen, "127.0.0.1");
    const config = receiverConfig(flags, stderrLog, true);
    config.targets = await allTargets(flags);
    await checkReceiverSetup(config, allowedNames(flags));
    const security = await serverSecurity(flags, stderrLog);
    const server = await serve(at, config, security);
    const address = server.address();
    stderrLog(
      `listening on ${typeof address === "object" && address ? `${address.address}:${address.port}` : flags.listen}`,
    );
    const stopReloading = reloadOnHangup(flags, config, security, stderrLog);
    await new Promise<void>((resolve) => {
      const stop = () => {
        stopReloading();
        server.close(() => resolve());
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
  });
}
