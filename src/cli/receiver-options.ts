import type { Command } from "commander";
import { parseImageCap } from "../job/image-growth.js";
import { type KeepGood, type KeepGoodMethod, parseKeepGood } from "../job/keep-good.js";
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
import { invalid } from "../validate.js";

export interface ReceiverFlags {
  target: TargetConfig[];
  create?: boolean;
  stateDir: string;
  checkpoint?: string;
  allowDir: AllowedDir[];
  maxImageSize: Array<[string, number]>;
  keepGood: Array<[string, KeepGoodMethod]>;
  keepGoodSize: Array<[string, string]>;
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
      "--keep-good <[NAME=]reflink|lvm>",
      "keep the last good copy while a sync writes the target: a reflink clone of an image, an LVM snapshot of an LV (repeatable)",
      (spec: string, all: Array<[string, KeepGoodMethod]>) => [...all, parseKeepGood(spec)],
      [] as Array<[string, KeepGoodMethod]>,
    )
    .option(
      "--keep-good-size <[NAME=]SIZE>",
      "with --keep-good lvm on a thick LV: the snapshot's size, e.g. 20G or 25%ORIGIN (default 20%ORIGIN)",
      (spec: string, all: Array<[string, string]>) => [...all, parseNamed("--keep-good-size", spec)],
      [] as Array<[string, string]>,
    )
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
    keepGood: keepGoodMap(flags.keepGood, flags.keepGoodSize),
    create: flags.create ?? false,
    stateDir: flags.stateDir,
    allowDirs: flags.allowDir,
    checkpointBytes: flags.checkpoint === undefined ? undefined : parseSize("--checkpoint", flags.checkpoint),
    log,
  };
}

/** "[NAME=]VALUE": the target NAME's value, or "*" for every target. */
function parseNamed(what: string, spec: string): [string, string] {
  const at = spec.indexOf("=");
  const [name, value] = at < 0 ? ["*", spec] : [spec.slice(0, at), spec.slice(at + 1)];
  if (name === "" || value === "") throw invalid(what, "VALUE or NAME=VALUE", spec);
  return [name, value];
}

function keepGoodMap(methods: Array<[string, KeepGoodMethod]>, sizes: Array<[string, string]>): Map<string, KeepGood> {
  const sizeOf = new Map(sizes);
  for (const [name] of sizes) {
    if (!methods.some(([n, m]) => (n === name || n === "*" || name === "*") && m === "lvm")) {
      throw invalid("--keep-good-size", `a target kept with --keep-good lvm`, name);
    }
  }
  return new Map(methods.map(([name, method]) => [name, { method, size: sizeOf.get(name) ?? sizeOf.get("*") }]));
}

export function stderrLog(line: string): void {
  process.stderr.write(`blockferry: ${printable(line)}\n`);
}
