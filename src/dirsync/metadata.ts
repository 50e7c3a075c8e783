/**
 * Ownership, mode and mtime of what the receiver creates. chown comes first
 * because it clears the setuid and setgid bits; chmod then sets them back;
 * the mtime comes last, after everything that would change it.
 */
import type { FileHandle } from "node:fs/promises";
import { lchown, lutimes } from "node:fs/promises";
import { type DirMeta, showPath } from "../protocol/dir-messages.js";

/**
 * Node takes times as seconds in a double: at today's dates that keeps the
 * nanoseconds to within a quarter of a microsecond, not exactly.
 */
export function mtimeOf(meta: DirMeta): number {
  return meta.mtimeSec + meta.mtimeNsec / 1e9;
}

/** The access time is not sent: it becomes the time of the copy, as with cp -p of a file just read. */
const now = () => Date.now() / 1000;

export class MetadataWriter {
  readonly #asRoot = process.getuid?.() === 0;
  readonly #log: (line: string) => void;
  #warned = false;
  #warnedSetuid = false;

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /**
   * A file or a directory, through a handle opened on it (never a path that
   * could be swapped). Files never keep setuid or setgid: a configuration
   * directory needs neither, and a source must not be able to plant a
   * program that runs as root on the receiving host. (Directories keep
   * setgid: it only passes their group on to new files.)
   */
  async apply(handle: FileHandle, meta: DirMeta, path: Buffer, isFile: boolean): Promise<void> {
    const owned = await this.#chown(() => handle.chown(meta.uid, meta.gid), meta, path);
    let mode = owned ? meta.mode : meta.mode & ~0o6000;
    if (isFile && mode & 0o6000) {
      mode &= ~0o6000;
      if (!this.#warnedSetuid) {
        this.#warnedSetuid = true;
        this.#log(`warning: setuid and setgid bits are not kept on files (first: ${showPath(path)})`);
      }
    }
    await handle.chmod(mode);
    await handle.utimes(now(), mtimeOf(meta));
  }

  /** A symlink: Linux has no mode for one; lchown and lutimes act on the link, never its target. */
  async applyToSymlink(path: Buffer, meta: DirMeta): Promise<void> {
    await this.#chown(() => lchown(path, meta.uid, meta.gid), meta, path);
    await lutimes(path, now(), mtimeOf(meta));
  }

  /** True if the owner was set; a user other than root may not give files away: warn once, go on. */
  async #chown(chown: () => Promise<void>, meta: DirMeta, path: Buffer): Promise<boolean> {
    try {
      await chown();
      return true;
    } catch (e) {
      if (this.#asRoot || (e as NodeJS.ErrnoException).code !== "EPERM") throw e;
      if (!this.#warned) {
        this.#warned = true;
        this.#log(
          `warning: not running as root, owners are not kept (${showPath(path)} should be ${meta.uid}:${meta.gid}, and others); setuid and setgid bits are dropped where the owner could not be set`,
        );
      }
      return false;
    }
  }
}
