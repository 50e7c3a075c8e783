#!/usr/bin/env node
// The entry point (started by dist/cli/blockferry.cjs, which sizes the thread
// pool first: see scripts/bundle.mjs): --version answers even without the
// addon, and a missing addon is one line saying how to reinstall, never a
// stack trace.
import { AddonLoadError } from "../native/addon-error.js";
import { EXIT } from "./exit-codes.js";
import { addonMissing, versionReport } from "./version.js";

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  process.stdout.write(await versionReport());
} else {
  try {
    const { main } = await import("./program.js");
    await main();
  } catch (e) {
    if (!(e instanceof AddonLoadError)) throw e;
    process.stderr.write(addonMissing(e));
    process.exitCode = EXIT.unsupported;
  }
}
