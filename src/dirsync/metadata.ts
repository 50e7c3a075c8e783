/**
 * Ownership, mode and mtime of what the receiver creates, always through a
 * descriptor (the file or directory itself, or a symlink's parent), never a
 * path. chown comes first because it clears the setuid and setgid bits; chmod
 * then sets them back; the mtime comes last, after everything that would
 * change it, to the nanosecond. The access time is not sent: it becomes the
 * time of the copy, as with cp -p of a file just read.
 */
import { constants } from "node:os";
import type { DirFd, FileFd } from "../native/index.js";
import { type DirMeta, showPath } from "../protocol/dir-messages.js";

export class MetadataWriter {
  readonly #asRoot = process.getuid?.() === 0;
  readonly #log: (line: string) => void;
  #warned = false;
  #warnedSetuid = false;

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /**
   * A file or a directory, through a descriptor open on it. Files never keep setuid or setgid: a configuration
   * directory needs neither, and a source must not be able to plant a
   * program that runs as root on the receiving host. (Directories keep
   * setgid: it only passes their group on to new files.)
   */
  async apply(handle: FileFd | DirFd, meta: DirMeta, path: Buffer, isFile: boolean): Promise<void> {
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
    await handle.setMtime(meta.mtimeSec, meta.mtimeNsec);
  }

  /** The symlink `name` in `dir`: Linux has no mode for one; owner and time are the link's, never its target's. */
  async applyToSymlink(dir: DirFd, name: Buffer, meta: DirMeta, path: Buffer): Promise<void> {
    await this.#chown(() => dir.chownEntry(name, meta.uid, meta.gid), meta, path);
    await dir.setEntryMtime(name, meta.mtimeSec, meta.mtimeNsec);
  }

  /** True if the owner was set; a user other than root may not give files away: warn once, go on. */
  async #chown(chown: () => Promise<void>, meta: DirMeta, path: Buffer): Promise<boolean> {
    try {
      await chown();
      return true;
    } catch (e) {
      if (this.#asRoot || (e as { errno?: number }).errno !== constants.errno.EPERM) throw e;
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
