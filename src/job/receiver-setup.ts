/**
 * What a receiver checks once, at start, so that a mistake in its command
 * line fails there and then, with what is wrong and what is expected, not at
 * 01:30 when a source connects: every target's directory exists, every
 * --allow-dir and --allow names a target it has, no allowed directory is /.
 */
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";
import { quoted } from "../printable.js";
import { invalid } from "../validate.js";
import { checkReflinks } from "./keep-good.js";
import { checkLvmTarget } from "./keep-good-lvm.js";
import {
  checkLocalDirectory,
  keepGoodOf,
  missingTarget,
  type ReceiverConfig,
  resolvedPath,
  type TargetConfig,
} from "./targets.js";

/** Throws for the first part of the receiver's set-up that cannot work; `allowNames`: the names --allow grants. */
export async function checkReceiverSetup(config: ReceiverConfig, allowNames: Iterable<string> = []): Promise<void> {
  const names = [...config.targets.keys()];
  const known = names.join(", ") || "(none)";
  for (const t of config.targets.values()) {
    // The receiving end of one sync (over ssh) speaks of its DEST: its target's name is internal.
    if (config.forSync) await checkLocalDirectory(t.path);
    const dir = dirname(t.path);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new BlockferryError(
        "E_NOT_FOUND",
        `--target ${t.name}=${quoted(t.path)}: the directory ${quoted(dir)} does not exist (expected an existing block device, or an image file in an existing directory)`,
      );
    }
  }
  for (const a of config.allowDirs ?? []) {
    const spec = `--allow-dir ${a.name}=${quoted(a.dir)}`;
    if (!config.targets.has(a.name)) throw invalid("--allow-dir", `the NAME of a --target (${known})`, a.name);
    if ((await resolvedPath(a.dir)) === "/") {
      throw invalid("--allow-dir", "a directory other than / (it would let a source place trees anywhere)", a.dir);
    }
    const info = await stat(a.dir).catch(() => undefined);
    if (!info?.isDirectory()) throw new BlockferryError("E_NOT_FOUND", `${spec}: no such directory on this host`);
  }
  for (const name of config.keepGood?.keys() ?? []) {
    if (name !== "*" && !config.targets.has(name))
      throw invalid("--keep-good", `the NAME of a --target (${known})`, name);
  }
  for (const t of config.targets.values()) await checkKeepGood(t, config);
  for (const name of allowNames) {
    if (name !== "*" && !config.targets.has(name)) {
      throw invalid("--allow", `target names of this receiver (${known}) or *`, name);
    }
  }
}

/** --keep-good that cannot work here is refused at start: an LV for lvm, an image on a filesystem with reflinks. */
async function checkKeepGood(t: TargetConfig, config: ReceiverConfig): Promise<void> {
  const keep = keepGoodOf(t, config);
  if (keep === undefined) return;
  const info = await stat(t.path).catch(() => undefined);
  if (keep.method === "reflink") {
    if (info?.isBlockDevice()) {
      throw invalid(
        "--keep-good",
        `lvm for the block device of target ${t.name} (reflinks keep image files)`,
        "reflink",
      );
    }
    await checkReflinks(t.path, t.name);
    return;
  }
  if (!info?.isBlockDevice()) {
    const what = info === undefined ? "does not exist" : "is not a block device";
    throw new BlockferryError(
      "E_UNSUPPORTED",
      `--keep-good ${t.name}=lvm: ${quoted(t.path)} ${what}; LVM snapshots keep LVM logical volumes (/dev/VG/LV): ` +
        "for an image file on XFS or btrfs, keep good copies with --keep-good reflink",
    );
  }
  await checkLvmTarget(t.path, t.name, keep.size, config.log);
}

/**
 * `receive --check`, after checkReceiverSetup: every target exists and this
 * user may read and write it, or it is an image that --create would make in
 * a directory this user may write. Nothing is opened, created or written.
 */
export async function checkTargetsWritable(config: ReceiverConfig): Promise<void> {
  for (const t of config.targets.values()) {
    const exists = await stat(t.path).then(
      () => true,
      () => false,
    );
    if (!exists && !config.create) throw missingTarget(t, config);
    const path = exists ? t.path : dirname(t.path);
    await access(path, constants.R_OK | constants.W_OK).catch((e: unknown) => {
      throw fromFsError(e, `${exists ? "" : "the directory of "}${quoted(t.path)}`);
    });
  }
}
