import type { Command } from "commander";
import { openVolume } from "../native/index.js";
import { jsonText, printable } from "../printable.js";

/** `blockferry info PATH`: what blockferry sees of a volume, without writing to it. */
export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("show a volume's size, sector size and O_DIRECT support (opens it read-only)")
    .argument("<path>", "block device or image file")
    .option("--json", "print JSON on stdout")
    .action(async (path: string, options: { json?: boolean }) => {
      const volume = await openVolume(path);
      const info = volume.info;
      await volume.close();
      if (options.json) {
        process.stdout.write(`${jsonText(info)}\n`);
        return;
      }
      const kind = info.isBlockDevice ? "block device" : "image file";
      process.stdout.write(
        `${printable(info.path)}: ${kind}, ${info.size} bytes, ${info.sectorSize}-byte sectors, ` +
          `O_DIRECT ${info.direct ? "yes" : "no (buffered reads)"}\n`,
      );
    });
}
