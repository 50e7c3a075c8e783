import type { Command } from "commander";
import { runSource } from "../engine/source.js";
import { TransferStats } from "../engine/stats.js";
import { defaultCacheDir, digestCacheAt } from "../job/digest-caches.js";
import { openSource, SEND_OPTIONS, sourceIdOf, sourceOptions } from "../job/source-setup.js";
import { FrameChannel } from "../protocol/frames.js";
import { stdioStream } from "../transport/stdio.js";
import { stderrLog } from "./receiver-options.js";
import { type SourceFlags, sourceSettings } from "./source-settings.js";

interface SendFlags extends SourceFlags {
  targetName: string;
  cacheKey: string;
  cacheDir: string;
  cache: boolean;
  full?: boolean;
  verify?: boolean;
  dryRun?: boolean;
  force?: boolean;
  allowLive?: boolean;
}

/**
 * `blockferry send --stdio SOURCE`: the source role on stdin/stdout, as a
 * `sync HOST:/PATH LOCAL` on another host starts it through ssh. Not for
 * people: a pull passes every option, from the same table (SEND_OPTIONS).
 */
export function registerSend(program: Command): void {
  const command = program
    .command("send", { hidden: true })
    .argument("<source>")
    .requiredOption("--stdio")
    .requiredOption("--target-name <name>")
    .requiredOption("--cache-key <key>")
    .option("--cache-dir <dir>", "", defaultCacheDir());
  for (const { flag } of SEND_OPTIONS) command.option(flag);
  command.action(async (source: string, flags: SendFlags) => {
    const settings = {
      ...sourceSettings({ blockSize: "64K", fineBlockSize: "4K", compress: "none", cacheRuns: "6", ...defined(flags) }),
      full: flags.full ?? false,
      verify: flags.verify ?? false,
      dryRun: flags.dryRun ?? false,
      force: flags.force ?? false,
      readCache: flags.cache,
      allowLive: flags.allowLive ?? false,
    };
    const volume = await openSource(source, settings, stderrLog);
    try {
      const cache = digestCacheAt(flags.cacheDir, flags.cacheKey, stderrLog);
      const common = sourceOptions(settings, volume, await sourceIdOf(source), cache, new TransferStats(), stderrLog);
      const channel = new FrameChannel(stdioStream());
      await runSource({ ...common, channel, targetName: flags.targetName, awaitTargetClose: false });
    } finally {
      await volume.close();
    }
    // Our stdout closes only when this process exits, and the target waits for that.
    process.stdout.write("", () => process.exit(0));
  });
}

/** The options commander set (an unset one is absent, so the defaults above apply). */
function defined<T extends object>(flags: T): Partial<T> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Partial<T>;
}
