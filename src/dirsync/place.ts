/**
 * Puts a received tree at DEST so that readers see the old tree or the new
 * one, never a half-written one, and so that nothing is ever created, changed
 * or removed outside DEST's parent, whatever is swapped for a symlink where:
 *
 *   lock (lock.ts: one placement at a time on this host)
 *   PARENT = open(dirname DEST), one component at a time, no symlink followed
 *   clean up what a killed run left (NAME.blockferry-old, NAME.blockferry-new)
 *   mkdirat(PARENT, NAME.blockferry-new, 0700), held open; the tree is built
 *     under that descriptor (tree-writer.ts) and fsynced
 *   check NAME.blockferry-new is still that very directory
 *   renameat2(PARENT, NAME.blockferry-new, NAME, RENAME_EXCHANGE)
 *     (NAME absent: RENAME_NOREPLACE); fsync(PARENT)
 *   rm -rf NAME.blockferry-new (now the old tree), following no symlink
 *
 * Every step names one component under the PARENT descriptor, so a directory
 * above DEST swapped for a symlink after the open changes nothing: the tree
 * lands in the directory that was checked, wherever it has been moved. The
 * exchange is atomic: DEST is never missing. On a filesystem without
 * renameat2's flags (EINVAL), two renames (NAME to NAME.blockferry-old, then
 * the new tree to NAME) leave DEST missing for the time between two syscalls;
 * a crash there is undone by the next placement (or `mv DEST.blockferry-old DEST`).
 */
import { constants } from "node:os";
import { basename, dirname, posix } from "node:path";
import { BlockferryError } from "../errors.js";
import { DirFd } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import { showPath } from "../protocol/dir-messages.js";
import { acquirePlacementLock, type PlacementLock } from "./lock.js";
import { failed } from "./paths.js";

const { EINVAL, ELOOP, ENOENT, ENOTDIR } = constants.errno;

export const STAGING_SUFFIX = ".blockferry-new";
export const OLD_SUFFIX = ".blockferry-old";

/**
 * Refuses a destination with a component named like a staging or an old tree:
 * placing there would put one transfer's tree into another's staging tree,
 * or have the cleanup of a killed run remove it.
 */
export function refuseWorkingName(dest: string): void {
  const part = dest.split("/").find((p) => p.endsWith(STAGING_SUFFIX) || p.endsWith(OLD_SUFFIX));
  if (part !== undefined) {
    throw new BlockferryError(
      "E_ACCESS",
      `--with-dir: ${showPath(dest)}: ${showPath(part)} ends in "${STAGING_SUFFIX}" or "${OLD_SUFFIX}", the names of blockferry's staging and old trees; never a destination`,
    );
  }
}

/** A destination from HELLO: absolute, normalized, and no staging or old tree's name. */
export function checkDest(dest: string): string {
  const d = dest.length > 1 ? dest.replace(/\/+$/, "") : dest;
  if (!d.startsWith("/") || d === "/" || d.includes("\0") || posix.normalize(d) !== d) {
    throw protocolError(`directory ${showPath(dest)}: expected a normalized absolute path other than /`);
  }
  refuseWorkingName(d);
  return d;
}

/** DEST's parent, opened without following a symlink at any component. */
async function openParent(dest: string): Promise<DirFd> {
  const parent = dirname(dest);
  try {
    return await DirFd.open(parent);
  } catch (e) {
    const err = e as BlockferryError;
    const at = err.offset === undefined ? parent : Buffer.from(parent).subarray(0, err.offset).toString();
    if (err.errno === ELOOP) {
      throw new BlockferryError(
        "E_ACCESS",
        `${showPath(dest)}: ${showPath(parent)} is reached through a symbolic link on the receiving host (${showPath(at)}); name the real path`,
        { errno: err.errno, cause: e },
      );
    }
    if (err.errno === ENOENT || err.errno === ENOTDIR) {
      throw new BlockferryError(
        "E_NOT_FOUND",
        `${showPath(dest)}: the directory ${showPath(parent)} does not exist on the receiving host (${showPath(at)} is missing or not a directory)`,
        { errno: err.errno, cause: e },
      );
    }
    throw failed(e, `${showPath(dest)}: opening ${showPath(parent)}`);
  }
}

/** The names under DEST's parent: DEST's own, its staging tree's, its old tree's. */
interface Names {
  dest: Buffer;
  staging: Buffer;
  old: Buffer;
}

/**
 * Cleans up after a transfer that was killed: a crash between the two renames
 * is undone first (DEST missing, a directory DEST.blockferry-old present),
 * then what is left of a staging or an old tree is removed. A leftover that is
 * a symlink is removed itself, never restored nor followed.
 */
async function recoverLeftovers(parent: DirFd, n: Names, dest: string, log: (line: string) => void): Promise<void> {
  const old = showPath(dest + OLD_SUFFIX);
  const where = showPath(dest);
  try {
    const oldKind = await parent.kind(n.old);
    if (oldKind === "dir" && (await parent.kind(n.dest)) === undefined) {
      log(`${where}: restoring the previous tree from ${old} (an earlier transfer stopped while replacing it)`);
      await renameNoReplace(parent, n.old, n.dest);
      await parent.sync();
    } else if (oldKind !== undefined) {
      log(`${where}: removing ${old}, left by an earlier transfer`);
      await parent.removeTree(n.old);
    }
    if ((await parent.kind(n.staging)) !== undefined) {
      log(`${where}: removing ${showPath(dest + STAGING_SUFFIX)}, left by an earlier transfer`);
      await parent.removeTree(n.staging);
    }
  } catch (e) {
    throw failed(e, `${where}: cleaning up after an earlier transfer`);
  }
}

/** renameat2's RENAME_NOREPLACE; a plain rename on a filesystem without the flag (EINVAL). */
async function renameNoReplace(parent: DirFd, from: Buffer, to: Buffer): Promise<void> {
  try {
    await parent.rename(from, to, "no-replace");
  } catch (e) {
    if ((e as BlockferryError).errno !== EINVAL) throw e;
    await parent.rename(from, to, "replace");
  }
}

export class Placement {
  readonly dest: string;
  /** The staging directory's path, for messages (everything goes through `stagingDir`). */
  readonly staging: string;
  /** The staging directory, held open: the received tree is built under it. */
  readonly stagingDir: DirFd;
  readonly #parent: DirFd;
  readonly #names: Names;
  readonly #lock: PlacementLock;
  readonly #log: (line: string) => void;
  #released = false;

  private constructor(
    dest: string,
    parent: DirFd,
    staging: DirFd,
    names: Names,
    lock: PlacementLock,
    log: (line: string) => void,
  ) {
    this.dest = dest;
    this.staging = dest + STAGING_SUFFIX;
    this.stagingDir = staging;
    this.#parent = parent;
    this.#names = names;
    this.#lock = lock;
    this.#log = log;
  }

  /** Waits for the host's placement lock, checks DEST can be replaced, cleans up an earlier run, creates the staging directory. */
  static async prepare(dest: string, log: (line: string) => void): Promise<Placement> {
    const d = checkDest(dest);
    const name = Buffer.from(basename(d));
    const names = {
      dest: name,
      staging: Buffer.from(`${name}${STAGING_SUFFIX}`),
      old: Buffer.from(`${name}${OLD_SUFFIX}`),
    };
    if (names.staging.length > 255) {
      throw new BlockferryError(
        "E_INVALID_ARG",
        `${showPath(d)}: the name is too long to add "${STAGING_SUFFIX}" to it`,
      );
    }
    const lock = await acquirePlacementLock(log);
    let parent: DirFd | undefined;
    try {
      parent = await openParent(d);
      await recoverLeftovers(parent, names, d, log);
      const kind = await parent.kind(names.dest);
      if (kind !== undefined && kind !== "dir") {
        const what = kind === "symlink" ? "a symbolic link" : "not a directory";
        throw new BlockferryError("E_INVALID_ARG", `${showPath(d)} is ${what} on the receiving host: not replaced`);
      }
      const staging = await parent.makeDir(names.staging, 0o700).catch((e: unknown) => {
        throw failed(e, `creating ${showPath(d + STAGING_SUFFIX)}`);
      });
      return new Placement(d, parent, staging, names, lock, log);
    } catch (e) {
      await parent?.close();
      await lock.release();
      throw e;
    }
  }

  /** The swap: the staging tree (complete and fsynced) becomes DEST; then the lock is released. On failure, call discard(). */
  async commit(): Promise<void> {
    const parent = this.#parent;
    let oldTree: Buffer | undefined;
    try {
      if (!(await parent.holds(this.#names.staging, this.stagingDir))) {
        throw new BlockferryError(
          "E_ACCESS",
          `${showPath(this.staging)} changed under the placement (it is no longer the directory this transfer built); ${showPath(this.dest)} left as it was`,
        );
      }
      oldTree = await this.#swap();
      await parent.sync();
    } catch (e) {
      throw failed(e, `${showPath(this.dest)}: replacing it with the tree received`);
    }
    // The new tree is in place: an old one that cannot be removed is left for the next transfer.
    if (oldTree !== undefined) {
      await parent.removeTree(oldTree).catch((e: unknown) => {
        this.#log(
          `warning: the previous ${showPath(this.dest)} was not removed (${(e as Error).message}); the next transfer removes it`,
        );
      });
    }
    await this.#release();
  }

  /** Puts the staging tree at NAME; returns the name the old tree now has, if there was one. */
  async #swap(): Promise<Buffer | undefined> {
    const parent = this.#parent;
    const n = this.#names;
    const kind = await parent.kind(n.dest);
    if (kind === undefined) {
      await renameNoReplace(parent, n.staging, n.dest);
      return undefined;
    }
    if (kind !== "dir")
      throw new BlockferryError("E_INVALID_ARG", `${showPath(this.dest)} is no longer a directory: not replaced`);
    try {
      await parent.rename(n.staging, n.dest, "exchange");
      return n.staging;
    } catch (e) {
      if ((e as BlockferryError).errno !== EINVAL) throw e; // the filesystem cannot exchange
    }
    await parent.rename(n.dest, n.old, "replace");
    await parent.rename(n.staging, n.dest, "replace").catch(async (e: unknown) => {
      await parent.rename(n.old, n.dest, "replace");
      throw e;
    });
    return n.old;
  }

  /** After a failure: removes the staging directory (DEST was never touched) and releases the lock. */
  async discard(): Promise<void> {
    if (this.#released) return;
    try {
      await this.#parent.removeTree(this.#names.staging);
    } catch (e) {
      this.#log(
        `warning: ${showPath(this.staging)} was not removed (${(e as Error).message}); the next transfer removes it`,
      );
    } finally {
      await this.#release();
    }
  }

  async #release(): Promise<void> {
    this.#released = true;
    await this.stagingDir.close().catch(() => {});
    await this.#parent.close().catch(() => {});
    await this.#lock.release();
  }
}
