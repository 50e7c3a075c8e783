import type { Command } from "commander";
import { parseImageCap } from "../job/image-growth.js";
import {
  type AllowedDir,
  DEFAULT_STATE_DIR,
  parseAllowDir,
  parseTargetSpec,
  type ReceiverConfig,
  type TargetConfig,
  targetMap,
} from "../job/targets.js";
import { printable } from "../printable.js";
import { parseSize } from "../units.js";

export interface ReceiverFlags {
  target: TargetConfig[];
  create?: boolean;
  stateDir: string;
  checkpoint?: string;
  allowDir: AllowedDir[];
  maxImageSize: Array<[string, number]>;
}

/** The options `serve` and `receive` share: which targets they may write, and how. */
export function addReceiverOptions(command: Command): Command {
  return command
    .option(
      "--target <NAME=PATH>",
      "a target this receiver may write (repeatable): sources ask for NAME",
      (spec: string, all: TargetConfig[]) => [...all, parseTargetSpec(spec)],
      [] as TargetConfig[],
    )
    .option(
      "--allow-dir <NAME=DIR>",
      "sources that may write target NAME may place --with-dir directories at or under DIR (repeatable)",
      (spec: string, all: AllowedDir[]) => [...all, parseAllowDir(spec)],
      [] as AllowedDir[],
    )
    .option("--create", "create a missing target image file (otherwise refused)")
    .option(
      "--max-image-size <[NAME=]SIZE>",
      "grow an image target to at most SIZE for a source (repeatable; default: its filesystem's size)",
      (spec: string, all: Array<[string, number]>) => [...all, parseImageCap(spec)],
      [] as Array<[string, number]>,
    )
    .option("--state-dir <dir>", "where block devices' state files live", DEFAULT_STATE_DIR)
    .option(
      "--checkpoint <size>",
      "sync and record progress every SIZE received (default 64M): an interruption re-sends at most twice this",
    );
}

/** `network`: sources reach it over TCP, so what they ask of image targets is capped (--max-image-size). */
export function receiverConfig(flags: ReceiverFlags, log: (line: string) => void, network: boolean): ReceiverConfig {
  return {
    targets: targetMap(flags.target),
    imageCaps: network ? new Map(flags.maxImageSize) : undefined,
    create: flags.create ?? false,
    stateDir: flags.stateDir,
    allowDirs: flags.allowDir,
    checkpointBytes: flags.checkpoint === undefined ? undefined : parseSize("--checkpoint", flags.checkpoint),
    log,
  };
}

export function stderrLog(line: string): void {
  process.stderr.write(`blockferry: ${printable(line)}\n`);
}
