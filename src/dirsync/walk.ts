/**
 * The source side of --with-dir: walks a tree with lstat, never following a
 * symbolic link (the root included), parents before children and names in
 * byte order, which is the order the receiver insists on. Names stay raw
 * bytes, as the kernel gives them. Hardlinked files are sent once per name,
 * as separate files: the receiver's copies do not share an inode.
 */
import type { BigIntStats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { BlockferryError, fromFsError } from "../errors.js";
import type { DirEntryKind, DirMeta } from "../protocol/dir-messages.js";
import { showPath } from "../protocol/dir-messages.js";
import { MAX_DIR_PATH_BYTES } from "../protocol/messages.js";
import { joinPath } from "./paths.js";

export interface WalkItem {
  kind: DirEntryKind;
  /** Relative to the root, as sent. */
  rel: Buffer;
  /** Where it is on this host. */
  abs: Buffer;
  stat: BigIntStats;
  /** The symlink's target; empty for the other kinds. */
  link: Buffer;
}

const NONE = Buffer.alloc(0);

export function metaOf(st: BigIntStats): DirMeta {
  // Floor, not truncation: an mtime before 1970 has a negative second and a positive nanosecond part.
  let sec = st.mtimeNs / 1_000_000_000n;
  let nsec = st.mtimeNs % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeSec: Number(sec),
    mtimeNsec: Number(nsec),
  };
}

/** The root to send: a directory itself, not a symlink to one (say which directory you mean). */
export async function statRoot(root: string): Promise<BigIntStats> {
  let st: BigIntStats;
  try {
    st = await lstat(root, { bigint: true });
  } catch (e) {
    throw fromFsError(e, `--with-dir ${root}`);
  }
  if (st.isSymbolicLink()) {
    throw new BlockferryError(
      "E_INVALID_ARG",
      `--with-dir ${root} is a symbolic link; name the directory it points to`,
    );
  }
  if (!st.isDirectory()) throw new BlockferryError("E_INVALID_ARG", `--with-dir ${root} is not a directory`);
  return st;
}

function kindOf(st: BigIntStats): DirEntryKind | undefined {
  if (st.isDirectory()) return "dir";
  if (st.isFile()) return "file";
  if (st.isSymbolicLink()) return "symlink";
  return undefined;
}

function otherKind(st: BigIntStats): string {
  if (st.isFIFO()) return "a fifo";
  if (st.isSocket()) return "a socket";
  if (st.isBlockDevice()) return "a block device";
  if (st.isCharacterDevice()) return "a character device";
  return "of an unknown type";
}

const vanished = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT";

/** Everything under `root` (not the root itself), depth first, each directory's names sorted. */
export async function* walk(root: string, log: (line: string) => void): AsyncGenerator<WalkItem> {
  yield* walkDir(Buffer.from(root), NONE, log);
}

async function* walkDir(abs: Buffer, rel: Buffer, log: (line: string) => void): AsyncGenerator<WalkItem> {
  let names: Buffer[];
  try {
    names = await readdir(abs, { encoding: "buffer" });
  } catch (e) {
    // Removed since we saw it: it goes as an empty directory, as if walked a moment earlier.
    if (rel.length > 0 && vanished(e)) {
      log(`warning: ${showPath(abs)} vanished while being sent`);
      return;
    }
    throw fromFsError(e, `reading the directory ${showPath(abs)}`);
  }
  names.sort(Buffer.compare);
  for (const name of names) {
    const childAbs = joinPath(abs, name);
    const childRel = joinPath(rel, name);
    let st: BigIntStats;
    let link = NONE;
    try {
      st = await lstat(childAbs, { bigint: true });
      if (st.isSymbolicLink()) link = await readlink(childAbs, { encoding: "buffer" });
    } catch (e) {
      if (vanished(e)) {
        log(`warning: ${showPath(childAbs)} vanished while being sent`);
        continue;
      }
      throw fromFsError(e, `reading ${showPath(childAbs)}`);
    }
    const kind = kindOf(st);
    if (kind === undefined) {
      log(
        `warning: ${showPath(childAbs)} is ${otherKind(st)}: skipped (only directories, files and symlinks are sent)`,
      );
      continue;
    }
    if (childRel.length > MAX_DIR_PATH_BYTES) {
      throw new BlockferryError(
        "E_UNSUPPORTED",
        `${showPath(childAbs)}: a relative path of ${childRel.length} bytes, at most ${MAX_DIR_PATH_BYTES} can be sent`,
      );
    }
    yield { kind, rel: childRel, abs: childAbs, stat: st, link };
    if (kind === "dir") yield* walkDir(childAbs, childRel, log);
  }
}
