/**
 * Puts a received tree at DEST so that readers see the old tree or the new
 * one, never a half-written one. The tree is built in DEST.blockferry-new,
 * beside DEST (same filesystem, so rename is atomic), and fsynced; then
 *
 *   rename(DEST, DEST.blockferry-old); rename(DEST.blockferry-new, DEST);
 *   fsync(parent); rm -rf DEST.blockferry-old
 *
 * The window, honestly: between the two renames DEST does not exist. A reader
 * then gets ENOENT (still never a partial tree) for the time between two
 * syscalls. A crash there leaves DEST missing and DEST.blockferry-old whole:
 * the next transfer to DEST puts it back before anything else (or, by hand,
 * `mv DEST.blockferry-old DEST`). renameat2(RENAME_EXCHANGE) would close the
 * window, but Node cannot call it without native code.
 *
 * Two transfers to the same DEST at once are not guarded against: each would
 * remove the other's staging directory and fail, never mix the trees.
 */
import { constants, type Stats } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, posix } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { showPath } from "../protocol/dir-messages.js";
import { joinPath } from "./paths.js";

export const STAGING_SUFFIX = ".blockferry-new";
export const OLD_SUFFIX = ".blockferry-old";

/** A destination from HELLO: absolute and already normalized (a check made elsewhere saw this very string). */
export function checkDest(dest: string): string {
  const d = dest.length > 1 ? dest.replace(/\/+$/, "") : dest;
  if (!d.startsWith("/") || d === "/" || d.includes("\0") || posix.normalize(d) !== d) {
    throw protocolError(`directory ${showPath(dest)}: expected a normalized absolute path other than /`);
  }
  return d;
}

async function lstatOrNone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromFsError(e, `looking at ${showPath(path)}`);
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** rm -rf; when not root, a read-only directory in the tree is made writable first. */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw e;
    await allowRemoval(Buffer.from(path));
    await rm(path, { recursive: true, force: true });
  }
}

async function allowRemoval(path: Buffer): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(path, 0o700).catch(() => {});
  for (const name of await readdir(path, { encoding: "buffer" })) await allowRemoval(joinPath(path, name));
}

/**
 * Cleans up after a transfer that was killed: a crash between the two renames
 * is undone first (DEST missing, DEST.blockferry-old present), then what is
 * left of a staging or an old tree is removed.
 */
export async function recoverLeftovers(dest: string, log: (line: string) => void): Promise<void> {
  const staging = dest + STAGING_SUFFIX;
  const old = dest + OLD_SUFFIX;
  try {
    if ((await lstatOrNone(old)) !== undefined) {
      if ((await lstatOrNone(dest)) === undefined) {
        log(`${dest}: restoring the previous tree from ${old} (an earlier transfer stopped while replacing it)`);
        await rename(old, dest);
        await fsyncDir(dirname(dest));
      } else {
        log(`${dest}: removing ${old}, left by an earlier transfer`);
        await removeTree(old);
      }
    }
    if ((await lstatOrNone(staging)) !== undefined) {
      log(`${dest}: removing ${staging}, left by an earlier transfer`);
      await removeTree(staging);
    }
  } catch (e) {
    throw fromFsError(e, `${dest}: cleaning up after an earlier transfer`);
  }
}

export class Placement {
  readonly dest: string;
  readonly staging: string;
  readonly old: string;
  readonly #log: (line: string) => void;

  private constructor(dest: string, log: (line: string) => void) {
    this.dest = dest;
    this.staging = dest + STAGING_SUFFIX;
    this.old = dest + OLD_SUFFIX;
    this.#log = log;
  }

  /** Checks DEST can be replaced, cleans up an earlier run, creates the (private) staging directory. */
  static async prepare(dest: string, log: (line: string) => void): Promise<Placement> {
    const p = new Placement(dest, log);
    const parent = dirname(dest);
    const up = await stat(parent).catch(() => undefined);
    if (!up?.isDirectory()) {
      throw new BlockferryError("E_NOT_FOUND", `${dest}: the directory ${parent} does not exist on the receiving host`);
    }
    // Never through a symbolic link: what the receiver allowed is then where the tree lands.
    const real = await realpath(parent);
    if (real !== parent) {
      throw new BlockferryError(
        "E_ACCESS",
        `${dest}: ${parent} is ${real} through a symbolic link on the receiving host; name the real path`,
      );
    }
    if (Buffer.byteLength(basename(p.staging)) > 255) {
      throw new BlockferryError("E_INVALID_ARG", `${dest}: the name is too long to add "${STAGING_SUFFIX}" to it`);
    }
    await recoverLeftovers(dest, log);
    const existing = await lstatOrNone(dest);
    if (existing !== undefined && !existing.isDirectory()) {
      const what = existing.isSymbolicLink() ? "a symbolic link" : "not a directory";
      throw new BlockferryError("E_INVALID_ARG", `${dest} is ${what} on the receiving host: not replaced`);
    }
    try {
      await mkdir(p.staging, { mode: 0o700 });
    } catch (e) {
      throw fromFsError(e, `creating ${p.staging}`);
    }
    return p;
  }

  /** The swap: the staging tree (complete and fsynced) becomes DEST. */
  async commit(): Promise<void> {
    const had = (await lstatOrNone(this.dest)) !== undefined;
    try {
      if (had) await rename(this.dest, this.old);
      try {
        await rename(this.staging, this.dest);
      } catch (e) {
        if (had) await rename(this.old, this.dest);
        throw e;
      }
      await fsyncDir(dirname(this.dest));
    } catch (e) {
      throw fromFsError(e, `${this.dest}: replacing it with the tree received`);
    }
    if (!had) return;
    // The new tree is in place: an old one that cannot be removed is left for the next transfer.
    await removeTree(this.old).catch((e: unknown) =>
      this.#log(`warning: ${this.old} was not removed (${(e as Error).message}); the next transfer removes it`),
    );
  }

  /** After a failure: removes the staging directory; DEST was never touched. */
  async discard(): Promise<void> {
    await removeTree(this.staging).catch((e: unknown) =>
      this.#log(`warning: ${this.staging} was not removed (${(e as Error).message}); the next transfer removes it`),
    );
  }
}
