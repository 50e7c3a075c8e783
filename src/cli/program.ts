/** The CLI proper: every command, and how a failure becomes a message and an exit code. */
import { Command, CommanderError } from "commander";
import { version } from "../build-info.js";
import { BlockferryError } from "../errors.js";
import { printable } from "../printable.js";
import { mark } from "../timeline.js";
import { registerBench } from "./bench.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { registerInfo } from "./info.js";
import { registerKeygen } from "./keygen.js";
import { registerPromote } from "./promote.js";
import { registerReceive } from "./receive.js";
import { registerRun } from "./run.js";
import { registerSend } from "./send.js";
import { registerServe } from "./serve.js";
import { registerStatus } from "./status.js";
import { registerSync } from "./sync.js";

/** The whole CLI; scripts/gen-docs.mjs walks it for the man page and bash completion. */
export const program = new Command()
  .name("blockferry")
  .description("Replicate a block device or disk image to another machine, then keep it current.")
  .version(version)
  .exitOverride(); // throw instead of exiting, so usage errors get EXIT.usage
registerSync(program);
registerServe(program);
registerReceive(program);
registerInfo(program);
registerKeygen(program);
registerSend(program);
registerStatus(program);
registerPromote(program);
registerRun(program);
registerBench(program);

export async function main(): Promise<void> {
  mark("modules loaded");
  try {
    await program.parseAsync();
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed the message; help and --version end with 0.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (e instanceof BlockferryError) {
      process.stderr.write(`blockferry: ${printable(e.message)}\n`);
      process.exitCode = exitCodeFor(e.code);
    } else {
      process.stderr.write(
        `blockferry: internal error: ${printable(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`,
      );
      process.exitCode = EXIT.internal;
    }
  }
}
