/**
 * Reads a file the walk found, for DIR_DATA: exactly the size its entry
 * declared, in chunks of at most MAX_DIR_DATA_BYTES, or a clear error if the
 * file changed under us. Sending a mix of old and new bytes would be worse
 * than sending nothing.
 */
import { type BigIntStats, constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { BlockferryError, fromFsError } from "../errors.js";
import { showPath } from "../protocol/dir-messages.js";
import { MAX_DIR_DATA_BYTES } from "../protocol/messages.js";

export interface OpenedFile {
  handle: FileHandle;
  /** Taken from the open file: what the entry declares and the data must match. */
  stat: BigIntStats;
}

function changed(path: Buffer, how: string): BlockferryError {
  return new BlockferryError(
    "E_IO",
    `${showPath(path)} changed while being sent (${how}); nothing of it was placed, run again once it is quiet`,
  );
}

/**
 * Opens the file the walk saw at `path`; undefined if it has been removed since.
 * O_NOFOLLOW and the inode check refuse a symlink or another file swapped in
 * since; O_NONBLOCK keeps a fifo swapped in from hanging the open.
 */
export async function openSeen(path: Buffer, seen: BigIntStats): Promise<OpenedFile | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromFsError(e, `opening ${showPath(path)}`);
  }
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFile() || stat.ino !== seen.ino || stat.dev !== seen.dev) throw changed(path, "replaced");
    return { handle, stat };
  } catch (e) {
    await handle.close();
    throw fromFsError(e, `reading ${showPath(path)}`);
  }
}

/** Yields the file's first `size` bytes, each chunk a new buffer (the wire may still hold the last). */
export async function* readExactly(handle: FileHandle, size: number, path: Buffer): AsyncGenerator<Buffer> {
  let at = 0;
  while (at < size) {
    const chunk = Buffer.allocUnsafe(Math.min(MAX_DIR_DATA_BYTES, size - at));
    let got = 0;
    while (got < chunk.length) {
      const { bytesRead } = await handle.read(chunk, got, chunk.length - got, at + got);
      if (bytesRead === 0) throw changed(path, `${size} bytes when opened, ${at + got} now`);
      got += bytesRead;
    }
    at += chunk.length;
    yield chunk;
  }
  const { bytesRead } = await handle.read(Buffer.alloc(1), 0, 1, size);
  if (bytesRead !== 0) throw changed(path, `${size} bytes when opened, more now`);
}

/** After the last chunk: the same size and mtime as when opened, or the bytes sent may be a mix. */
export async function checkUnchanged(opened: OpenedFile, path: Buffer): Promise<void> {
  const now = await opened.handle.stat({ bigint: true });
  if (now.size !== opened.stat.size) throw changed(path, `${opened.stat.size} bytes when opened, ${now.size} now`);
  if (now.mtimeNs !== opened.stat.mtimeNs) throw changed(path, "modified while being read");
}
