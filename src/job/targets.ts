/**
 * The targets a receiver may write: names mapped to paths, given on its own
 * command line. A source asks for a name; the path is never taken from the
 * peer. Each target's state file lives beside an image file, or in the state
 * directory for a block device (never inside the volume).
 */
import { createHash } from "node:crypto";
import { realpath, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { refuseWorkingName } from "../dirsync/place.js";
import type { GoodCopyKeeper, OpenedTarget, TargetResolver } from "../engine/target.js";
import { BlockferryError } from "../errors.js";
import { openVolume } from "../native/index.js";
import { quoted } from "../printable.js";
import { invalid } from "../validate.js";
import { changeStamp, volumeIdentity, writtenSince } from "./identity.js";
import { checkImageGrowth } from "./image-growth.js";
import { type KeepGood, reflinkKeeper } from "./keep-good.js";
import { lvmKeeper } from "./keep-good-lvm.js";
import { refuseSourceVolume } from "./source-record.js";
import { FileStateStore } from "./state-file.js";

/**
 * Where state files of block-device targets and records of sources live:
 * BLOCKFERRY_STATE_DIR if set, the system's for root, else the user's own.
 */
export const DEFAULT_STATE_DIR =
  process.env.BLOCKFERRY_STATE_DIR ||
  (process.getuid?.() === 0
    ? "/var/lib/blockferry"
    : join(process.env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "blockferry"));
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface TargetConfig {
  name: string;
  path: string;
}

export interface AllowedDir {
  /** The target whose writers may place directories here. */
  name: string;
  dir: string;
}

export interface ReceiverConfig {
  targets: Map<string, TargetConfig>;
  /** Create a missing image file (otherwise a missing target is refused). */
  create: boolean;
  /**
   * The receiving end of one `blockferry sync` (local, or over ssh): its user
   * named a path, not a target (the name is internal), and passes `sync --create`.
   */
  forSync?: boolean | undefined;
  /** Where block devices' state files live. */
  stateDir: string;
  /** --with-dir: where sources that write a target may place directories (none: refused). */
  allowDirs?: AllowedDir[] | undefined;
  /**
   * How far a source may grow each image target (src/job/image-growth.ts):
   * NAME or "*" → bytes; unnamed targets up to their filesystem's size.
   * Undefined: no limit (a local copy, or `receive --stdio` under ssh).
   */
  imageCaps?: Map<string, number> | undefined;
  /** --keep-good: how each target's last good copy is kept while a sync writes it (NAME or "*"). */
  keepGood?: Map<string, KeepGood> | undefined;
  /** Bytes between checkpoints; undefined for the default. */
  checkpointBytes?: number | undefined;
  log: (line: string) => void;
}

/** Parses "NAME=PATH". */
export function parseTargetSpec(spec: string): TargetConfig {
  const at = spec.indexOf("=");
  const name = spec.slice(0, at);
  const path = spec.slice(at + 1);
  if (at < 1 || !NAME.test(name) || path.length === 0 || path.includes("\0")) {
    throw invalid("--target", "NAME=PATH with NAME of letters, digits, '.', '_' or '-' (up to 64)", spec);
  }
  return { name, path };
}

export function targetMap(specs: TargetConfig[]): Map<string, TargetConfig> {
  const map = new Map<string, TargetConfig>();
  for (const t of specs) {
    if (map.has(t.name)) throw invalid("--target", "each NAME once", t.name);
    map.set(t.name, t);
  }
  return map;
}

/** Where the state of `target` is kept. */
export async function statePath(target: TargetConfig, stateDir: string): Promise<string> {
  const info = await stat(target.path).catch(() => undefined);
  return info?.isBlockDevice() ? join(stateDir, `${target.name}.state.json`) : `${target.path}.blockferry-state.json`;
}

/** `mayWrite`: which names this peer may write; only those are named to it in a refusal. */
export function receiverResolver(
  config: ReceiverConfig,
  mayWrite: (name: string) => boolean = () => true,
): TargetResolver {
  return async (hello): Promise<OpenedTarget> => {
    const target = config.targets.get(hello.targetName);
    if (target === undefined) {
      const known = [...config.targets.keys()].filter(mayWrite).join(", ") || "(none)";
      throw new BlockferryError(
        "E_UNKNOWN_TARGET",
        `no target named "${hello.targetName}" here; this receiver writes: ${known}`,
      );
    }
    const checkDir = (dest: string) => checkDirAllowed(dest, target.name, config);
    for (const dir of hello.dirs) await checkDir(dir);
    if (!hello.flags.probe) {
      await checkImageGrowth(target, hello.sourceSize, config.imageCaps);
      await refuseSourceVolume(config.stateDir, target.path, target.name, hello.flags.force === true, config.log);
    }
    const exists = await stat(target.path).then(
      () => true,
      () => false,
    );
    // A probe (`blockferry bench --to`) reads only: it never creates or opens for writing.
    const probe = hello.flags.probe;
    if (!exists && (!config.create || probe)) throw missingTarget(target, config);
    const volume = await openVolume(target.path, { write: !probe, create: config.create && !probe });
    const state = new FileStateStore(await statePath(target, config.stateDir), config.log);
    const identity = await volumeIdentity(target.path, volume.size);
    const stamp = (seal?: boolean) => changeStamp(target.path, seal);
    const written = (recorded: string | undefined) => writtenSince(target.path, recorded);
    // The receiving end of a sync names the path its user gave; its target name is internal.
    const describe = config.forSync ? target.path : `${target.name} (${target.path})`;
    const keeper = keeperFor(target, config, volume.info.isBlockDevice);
    return { volume, state, identity, stamp, writtenSince: written, checkDir, describe, keeper, created: !exists };
  };
}

/** A target whose path does not exist, refused: to a sync's user, or to a receiver's. */
export function missingTarget(target: TargetConfig, config: ReceiverConfig): BlockferryError {
  return new BlockferryError(
    "E_NOT_FOUND",
    config.forSync
      ? `DEST ${quoted(target.path)} does not exist; pass --create to create it as an image file`
      : `target "${target.name}": ${quoted(target.path)} does not exist; start the receiver with --create to create image files`,
  );
}

/** How `target`'s last good copy is kept, if the receiver keeps one (checked at start: checkReceiverSetup). */
export function keepGoodOf(target: TargetConfig, config: ReceiverConfig): KeepGood | undefined {
  return config.keepGood?.get(target.name) ?? config.keepGood?.get("*");
}

function keeperFor(target: TargetConfig, config: ReceiverConfig, isBlockDevice: boolean): GoodCopyKeeper | undefined {
  const keep = keepGoodOf(target, config);
  if (keep === undefined) return undefined;
  if (keep.method === "reflink" && !isBlockDevice) return reflinkKeeper(target.path);
  if (keep.method === "lvm" && isBlockDevice) return lvmKeeper(target.path, keep.size, config.log);
  throw new BlockferryError(
    "E_UNSUPPORTED",
    `--keep-good ${target.name}=${keep.method}: not for ${isBlockDevice ? "a block device" : "an image file"} (reflink keeps images, lvm keeps LVs)`,
  );
}

/** "/dev/vg/backup" → "local_dev_vg_backup": a target name (see src/job/targets.ts) that says which volume. */
export function localTargetName(path: string): string {
  const name = `local${path.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  if (name.length <= 64) return name;
  // Too long: the end of the path and a hash of all of it, so that two long paths never share a name.
  const hash = createHash("sha256").update(path).digest("hex").slice(0, 12);
  return `local-${hash}-${name.slice(-(64 - 20))}`;
}

/** "NAME=DIR": sources that may write target NAME may place --with-dir directories at or under DIR. */
export function parseAllowDir(spec: string): AllowedDir {
  const at = spec.indexOf("=");
  const name = spec.slice(0, at);
  const dir = spec.slice(at + 1);
  if (at < 1 || !NAME.test(name) || !isAbsolute(dir) || dir.includes("\0")) {
    throw invalid("--allow-dir", "NAME=DIR: a target's NAME and an absolute DIR", spec);
  }
  return { name, dir: resolve(dir) };
}

/**
 * A path as the kernel would resolve it: symlinks in its existing part
 * followed, the rest (not created yet) appended. Protected paths are compared
 * this way, never as typed: a target named through a symlinked directory is
 * still the file it resolves to.
 */
export async function resolvedPath(path: string): Promise<string> {
  const full = resolve(path);
  const rest: string[] = [];
  for (let at = full; ; at = dirname(at)) {
    const real = await realpath(at).catch(() => undefined);
    if (real !== undefined) return join(real, ...rest.reverse());
    if (at === dirname(at)) return full;
    rest.push(basename(at));
  }
}

const within = (path: string, root: string) => path === root || path.startsWith(root === "/" ? "/" : `${root}/`);

/** What a directory placed by a source must never replace or hold: every target, its state file, the state directory. */
async function guardedPaths(config: ReceiverConfig): Promise<string[]> {
  const paths = [config.stateDir];
  for (const t of config.targets.values()) paths.push(t.path, await statePath(t, config.stateDir));
  return Promise.all(paths.map(resolvedPath));
}

/**
 * Where a source that writes `target` may place a directory (--with-dir): at
 * or under a DIR the receiver allows for that target, never at or above a
 * target volume, its state file or the state directory (replacing those
 * would destroy a copy or forge its state). Every path is compared as the
 * kernel resolves it, and a destination reached through a symlink is refused
 * outright. Checked before anything is written, and again right before each
 * directory is placed.
 */
export async function checkDirAllowed(dest: string, target: string, config: ReceiverConfig): Promise<void> {
  refuseWorkingName(dest); // another transfer's staging or old tree is never a destination
  const wanted = resolve(dest);
  const real = await resolvedPath(wanted);
  if (real !== wanted) {
    throw new BlockferryError(
      "E_ACCESS",
      `--with-dir: ${quoted(wanted)} is ${quoted(real)} through a symbolic link on the receiving host; name the real path`,
    );
  }
  const roots = (config.allowDirs ?? []).filter((a) => a.name === target);
  const realRoots = await Promise.all(roots.map((a) => resolvedPath(a.dir)));
  if (!realRoots.some((root) => within(real, root))) {
    const allowed =
      realRoots.length > 0 ? realRoots.join(", ") : `none for "${target}" (start it with --allow-dir ${target}=DIR)`;
    throw new BlockferryError(
      "E_ACCESS",
      `--with-dir: this receiver does not place directories at ${quoted(real)}; it allows ${allowed}`,
    );
  }
  for (const path of await guardedPaths(config)) {
    if (within(path, real)) {
      throw new BlockferryError(
        "E_ACCESS",
        `--with-dir: ${quoted(real)} holds ${path}, which blockferry keeps; refused`,
      );
    }
  }
}

/** A local DEST's directory must exist (blockferry creates an image file, never directories). */
export async function checkLocalDirectory(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new BlockferryError(
      "E_NOT_FOUND",
      `DEST ${quoted(path)}: the directory ${quoted(dir)} does not exist (blockferry creates an image file with --create, never its directory)`,
    );
  }
}
