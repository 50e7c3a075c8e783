/**
 * Directories held open, and everything done to what they hold done relative
 * to them (openat, mkdirat, symlinkat, renameat2, unlinkat), never following
 * a symbolic link at any component: a path is looked up once, by openPath,
 * one component at a time, and never again.
 *
 * Why native code (native/core/dir_at.h): Node has no openat. Naming
 * "/proc/self/fd/N/NAME" would do for most steps, but it needs /proc mounted
 * in the receiver's namespace, and Node still could not exchange two names
 * atomically (renameat2) nor take a lock the kernel drops when its holder
 * dies (flock), both of which placing a tree needs.
 *
 * Descriptors are owned here: each DirFd or FileFd closes its own, once.
 */
import { close, fchmod, constants as fs, fstat, fsync, open, write } from "node:fs";
import { promisify } from "node:util";
import { BlockferryError } from "../errors.js";
import { checkBytes, checkInteger, checkString, invalid } from "../validate.js";
import { addon, type RawEntryKind } from "./addon.js";
import { callNative } from "./native-error.js";

export type EntryKind = RawEntryKind;
/** replace: as rename(2); no-replace: fail (EEXIST) if `to` exists; exchange: swap two existing names. */
export type RenameMode = "replace" | "no-replace" | "exchange";
const RENAME_MODES: Record<RenameMode, 0 | 1 | 2> = { replace: 0, "no-replace": 1, exchange: 2 };

const closeFd = promisify(close);
const fchmodFd = promisify(fchmod);
const fsyncFd = promisify(fsync);
const fstatFd = promisify(fstat);
const openFd = promisify(open);
const writeFd = promisify(write);

/** One component: 1 to 255 bytes, no "/" or NUL, not "." or "..". */
export function checkName(name: unknown): Uint8Array {
  const b = checkBytes("name", name);
  const dots = b.length <= 2 && b.every((c) => c === 0x2e);
  if (b.length === 0 || b.length > 255 || b.includes(0x2f) || b.includes(0) || dots) {
    throw invalid("name", 'a single file name (1 to 255 bytes, no "/" or NUL, not "." or "..")', name);
  }
  return b;
}

const checkMode = (mode: unknown) => checkInteger("mode", mode, 0, 0o7777);

/** A descriptor and what can be done to the file it is open on, whatever its name now. */
class HeldFd {
  #fd: number | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  get fd(): number {
    if (this.#fd === undefined) throw new BlockferryError("E_CLOSED", "the descriptor is closed");
    return this.#fd;
  }

  chown(uid: number, gid: number): Promise<void> {
    return chownAt(this.fd, null, uid, gid);
  }

  async chmod(mode: number): Promise<void> {
    await fchmodFd(this.fd, checkMode(mode));
  }

  /** The modification time to the nanosecond; the access time becomes now. */
  setMtime(sec: number, nsec: number): Promise<void> {
    return setMtimeAt(this.fd, null, sec, nsec);
  }

  async sync(): Promise<void> {
    await fsyncFd(this.fd);
  }

  /** Closes the descriptor; a second call does nothing. */
  async close(): Promise<void> {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) await closeFd(fd);
  }
}

/** A file created by DirFd.createFile, open for writing. */
export class FileFd extends HeldFd {
  /** Writes all of `data` at `position`. */
  async write(data: Uint8Array, position: number): Promise<void> {
    for (let at = 0; at < data.length; ) {
      const { bytesWritten } = await writeFd(this.fd, data, at, data.length - at, position + at);
      at += bytesWritten;
    }
  }
}

export class DirFd extends HeldFd {
  /** Opens an absolute path; refused (ELOOP, E_ACCESS) if any component is a symbolic link. */
  static async open(path: string): Promise<DirFd> {
    if (!checkString("path", path).startsWith("/")) throw invalid("path", "an absolute path", path);
    return new DirFd(await callNative(() => addon.dirAt.openPath(path)));
  }

  async openDir(name: Uint8Array): Promise<DirFd> {
    return new DirFd(await callNative(() => addon.dirAt.openAt(this.fd, checkName(name))));
  }

  /** Creates the directory `name` (nothing may be there, not even a symlink) and opens it. */
  async makeDir(name: Uint8Array, mode: number): Promise<DirFd> {
    return new DirFd(await callNative(() => addon.dirAt.makeDirAt(this.fd, checkName(name), checkMode(mode))));
  }

  /** Creates the file `name` (O_CREAT|O_EXCL|O_NOFOLLOW) and opens it for writing. */
  async createFile(name: Uint8Array, mode: number): Promise<FileFd> {
    return new FileFd(await callNative(() => addon.dirAt.createFileAt(this.fd, checkName(name), checkMode(mode))));
  }

  symlink(name: Uint8Array, target: Uint8Array): Promise<void> {
    const t = checkBytes("target", target);
    return callNative(() => addon.dirAt.symlinkAt(this.fd, checkName(name), t));
  }

  /** What `name` is (a symlink is not followed); undefined if nothing is there. */
  async kind(name: Uint8Array): Promise<EntryKind | undefined> {
    return (await callNative(() => addon.dirAt.kindAt(this.fd, checkName(name)))) ?? undefined;
  }

  /** True if `name` here is the very file `held` is open on. */
  holds(name: Uint8Array, held: HeldFd): Promise<boolean> {
    return callNative(() => addon.dirAt.sameEntryAt(this.fd, checkName(name), held.fd));
  }

  /** Owner of `name` itself (a symlink, not what it points to). */
  chownEntry(name: Uint8Array, uid: number, gid: number): Promise<void> {
    return chownAt(this.fd, checkName(name), uid, gid);
  }

  /** Modification time of `name` itself (a symlink, not what it points to). */
  setEntryMtime(name: Uint8Array, sec: number, nsec: number): Promise<void> {
    return setMtimeAt(this.fd, checkName(name), sec, nsec);
  }

  rename(from: Uint8Array, to: Uint8Array, mode: RenameMode): Promise<void> {
    return callNative(() => addon.dirAt.renameAt(this.fd, checkName(from), checkName(to), RENAME_MODES[mode]));
  }

  /** rm -rf `name`, following no symlink and staying on this file system; false if nothing was there. */
  removeTree(name: Uint8Array): Promise<boolean> {
    return callNative(() => addon.dirAt.removeTreeAt(this.fd, checkName(name)));
  }
}

function chownAt(fd: number, name: Uint8Array | null, uid: number, gid: number): Promise<void> {
  // 2^32-1 is (uid_t)-1: chown would read it as "leave unchanged".
  const u = checkInteger("uid", uid, 0, 0xfffffffe);
  const g = checkInteger("gid", gid, 0, 0xfffffffe);
  return callNative(() => addon.dirAt.chownAt(fd, name, u, g));
}

function setMtimeAt(fd: number, name: Uint8Array | null, sec: number, nsec: number): Promise<void> {
  const s = checkInteger("sec", sec, Number.MIN_SAFE_INTEGER);
  const n = checkInteger("nsec", nsec, 0, 999_999_999);
  return callNative(() => addon.dirAt.setMtimeAt(fd, name, s, n));
}

/**
 * A lock file, opened without following a symlink and without blocking on a
 * fifo planted in its place; created (0644, whatever the umask, so other
 * users may lock it too) if missing. tryLock takes an exclusive flock: the
 * kernel releases it when the descriptor is closed or its process dies,
 * however it dies. (The descriptor is close-on-exec, as every descriptor Node
 * opens: a hook or child process never inherits the lock.)
 */
export class LockFd extends HeldFd {
  static async open(path: string): Promise<LockFd> {
    const lock = new LockFd(await openLockFile(checkString("path", path)));
    try {
      if (!(await fstatFd(lock.fd)).isFile()) {
        throw new BlockferryError("E_UNSUPPORTED", `${path} is not a regular file: not used as a lock`);
      }
    } catch (e) {
      await lock.close();
      throw e;
    }
    return lock;
  }

  /** False if another open file holds the lock. */
  tryLock(): Promise<boolean> {
    return callNative(() => addon.dirAt.tryLock(this.fd));
  }
}

/**
 * Opens an existing lock file without O_CREAT: in a sticky, world-writable
 * directory (/run/lock) fs.protected_regular refuses O_CREAT on another
 * user's file, even one that exists. Creates it only when missing (O_EXCL).
 */
async function openLockFile(path: string): Promise<number> {
  const flags = fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK;
  for (let round = 0; ; round++) {
    try {
      return await openFd(path, flags);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || round === 2) throw e;
    }
    try {
      const fd = await openFd(path, flags | fs.O_CREAT | fs.O_EXCL, 0o644);
      await fchmodFd(fd, 0o644).catch(async (e: unknown) => {
        await closeFd(fd);
        throw e;
      });
      return fd;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; // created meanwhile: open it
    }
  }
}
