import { hostname } from "node:os";
import type { Command } from "commander";
import { RateLimiter } from "../engine/rate-limit.js";
import { runSource } from "../engine/source.js";
import { checkLiveSource } from "../job/live-source.js";
import { defaultCacheDir, digestCacheAt } from "../job/sync.js";
import { openVolume } from "../native/index.js";
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
  allowLive?: boolean;
}

/**
 * `blockferry send --stdio SOURCE`: the source role on stdin/stdout, as a
 * `sync HOST:/PATH LOCAL` on another host starts it through ssh. Not for
 * people: `sync` passes every option.
 */
export function registerSend(program: Command): void {
  program
    .command("send", { hidden: true })
    .argument("<source>")
    .requiredOption("--stdio")
    .requiredOption("--target-name <name>")
    .requiredOption("--cache-key <key>")
    .option("--block-size <size>", "", "64K")
    .option("--fine-block-size <size>", "", "4K")
    .option("--compress <codec>", "", "none")
    .option("--bwlimit <rate>")
    .option("--full")
    .option("--verify")
    .option("--dry-run")
    .option("--no-cache")
    .option("--cache-runs <n>", "", "6")
    .option("--cache-dir <dir>", "", defaultCacheDir())
    .option("--allow-live")
    .action(async (source: string, flags: SendFlags) => {
      const s = sourceSettings(flags);
      await checkLiveSource(source, flags.allowLive ?? false, stderrLog);
      const volume = await openVolume(source);
      try {
        await runSource({
          volume,
          channel: new FrameChannel(stdioStream()),
          targetName: flags.targetName,
          sourceId: `${hostname()}:${source}`,
          blockSize: s.blockSize,
          fineSize: s.fineSize < s.blockSize ? s.fineSize : 0,
          compress: s.compress,
          full: flags.full ?? false,
          verify: flags.verify ?? false,
          dryRun: flags.dryRun ?? false,
          rateLimiter: s.bwlimit === undefined ? undefined : new RateLimiter(s.bwlimit),
          cache: digestCacheAt(flags.cacheDir, flags.cacheKey, stderrLog),
          readCache: flags.cache,
          cacheRuns: s.cacheRuns,
          log: stderrLog,
          awaitTargetClose: false,
        });
      } finally {
        await volume.close();
      }
      // Our stdout closes only when this process exits, and the target waits for that.
      process.stdout.write("", () => process.exit(0));
    });
}
