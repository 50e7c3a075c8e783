/**
 * Builds a received tree inside a staging directory from untrusted entries.
 * The entries must come in the walk's order (parents first, names under one
 * parent in increasing byte order), so the writer only keeps the chain of
 * directories above the last entry, whatever the tree's size:
 * - an entry's parent must be on that chain, hence a directory this transfer
 *   created: never a symlink, never anything that was there before;
 * - names under one parent strictly increase, so no path comes twice;
 * - a directory left behind is complete: its owner, mode and mtime are set
 *   then, deepest first, after its contents (a 0o555 directory is filled
 *   before it becomes read-only; adding entries would change its mtime).
 * mkdir, symlink and O_CREAT|O_EXCL|O_NOFOLLOW fail rather than reuse or
 * follow anything at the path.
 */
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, symlink } from "node:fs/promises";
import { fromFsError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { type DirEntry, type DirMeta, MAX_DIR_BYTES, MAX_DIR_ENTRIES, showPath } from "../protocol/dir-messages.js";
import type { MetadataWriter } from "./metadata.js";
import { joinPath } from "./paths.js";

interface Level {
  /** The name as a latin1 string: one char per byte, so `<` compares as the sender's sort did. */
  name: string;
  path: Buffer;
  meta: DirMeta;
  last: string | undefined;
}

interface PendingFile {
  handle: FileHandle;
  path: Buffer;
  rel: Buffer;
  meta: DirMeta;
  size: number;
  written: number;
}

/** What the directories of one connection have taken so far: the caps hold for all of them together. */
export interface SessionBudget {
  entries: number;
  bytes: number;
}

export class TreeWriter {
  entries = 0;
  /** File bytes written so far. */
  bytes = 0;
  readonly #chain: Level[];
  readonly #meta: MetadataWriter;
  readonly #budget: SessionBudget;
  #file: PendingFile | undefined;

  /** `metadata` and `budget` are shared by the trees of one transfer: one warning, one cap. */
  constructor(root: Buffer, meta: DirMeta, metadata: MetadataWriter, budget: SessionBudget) {
    this.#chain = [{ name: "", path: root, meta, last: undefined }];
    this.#meta = metadata;
    this.#budget = budget;
  }

  /** The file still waiting for data, described for an error message; undefined if none. */
  get pendingFile(): string | undefined {
    const f = this.#file;
    return f && `${showPath(f.rel)} (${f.size - f.written} of its ${f.size} bytes still to come)`;
  }

  async add(entry: DirEntry): Promise<void> {
    const what = `DIR_ENTRY ${showPath(entry.path)}`;
    if (this.#file !== undefined) throw protocolError(`${what} before the data of ${this.pendingFile}`);
    this.entries++;
    if (++this.#budget.entries > MAX_DIR_ENTRIES) throw protocolError(`${what}: over ${MAX_DIR_ENTRIES} entries`);
    if (entry.kind === "file" && this.#budget.bytes + entry.size > MAX_DIR_BYTES) {
      throw protocolError(`${what}: ${entry.size} bytes bring the files past ${MAX_DIR_BYTES}`);
    }
    const { parent, name } = await this.#parentOf(entry.path, what);
    const path = joinPath(parent.path, Buffer.from(name, "latin1"));
    try {
      if (entry.kind === "dir") {
        await mkdir(path, { mode: 0o700 });
        this.#chain.push({ name, path, meta: entry.meta, last: undefined });
      } else if (entry.kind === "symlink") {
        await symlink(entry.link, path);
        await this.#meta.applyToSymlink(path, entry.meta);
      } else {
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
        const handle = await open(path, flags, 0o600);
        this.#file = { handle, path, rel: entry.path, meta: entry.meta, size: entry.size, written: 0 };
        if (entry.size === 0) await this.#finishFile(this.#file);
      }
    } catch (e) {
      throw fromFsError(e, `creating ${showPath(path)}`);
    }
  }

  async data(chunk: Buffer): Promise<void> {
    const f = this.#file;
    if (f === undefined) throw protocolError(`DIR_DATA of ${chunk.length} bytes with no file expecting data`);
    if (chunk.length > f.size - f.written) {
      throw protocolError(`DIR_DATA of ${chunk.length} bytes for ${this.pendingFile}`);
    }
    try {
      for (let at = 0; at < chunk.length; ) {
        const { bytesWritten } = await f.handle.write(chunk, at, chunk.length - at, f.written);
        at += bytesWritten;
        f.written += bytesWritten;
      }
      this.bytes += chunk.length;
      this.#budget.bytes += chunk.length;
      if (f.written === f.size) await this.#finishFile(f);
    } catch (e) {
      throw fromFsError(e, `writing ${showPath(f.path)}`);
    }
  }

  /** Closes every directory, the root last; everything is then on disk (fsynced). */
  async finish(): Promise<void> {
    if (this.#file !== undefined) throw protocolError(`DIR_END before the data of ${this.pendingFile}`);
    for (let level = this.#chain.pop(); level !== undefined; level = this.#chain.pop()) await this.#closeDir(level);
  }

  /** After a failure: lets go of an open file, so the staging directory can be removed. */
  async abort(): Promise<void> {
    await this.#file?.handle.close().catch(() => {});
    this.#file = undefined;
  }

  /** The open directory `rel` goes in, after closing those the stream has left for good. */
  async #parentOf(rel: Buffer, what: string): Promise<{ parent: Level; name: string }> {
    const parts = rel.toString("latin1").split("/");
    const depth = parts.length;
    const chain = this.#chain;
    const onChain = depth <= chain.length && parts.slice(0, -1).every((name, i) => chain[i + 1]?.name === name);
    if (!onChain) {
      throw protocolError(
        `${what}: its parent is not a directory sent before it in this transfer (or it is out of order)`,
      );
    }
    while (chain.length > depth) await this.#closeDir(chain.pop() as Level);
    const parent = chain[depth - 1] as Level;
    const name = parts[depth - 1] as string;
    if (parent.last !== undefined && name <= parent.last) {
      throw protocolError(`${what}: ${name === parent.last ? "sent twice" : "out of order (names must increase)"}`);
    }
    parent.last = name;
    return { parent, name };
  }

  async #finishFile(f: PendingFile): Promise<void> {
    this.#file = undefined;
    try {
      await this.#meta.apply(f.handle, f.meta, f.path, true);
      await f.handle.sync();
    } finally {
      await f.handle.close();
    }
  }

  async #closeDir(level: Level): Promise<void> {
    try {
      const handle = await open(level.path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        await this.#meta.apply(handle, level.meta, level.path, false);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (e) {
      throw fromFsError(e, `finishing the directory ${showPath(level.path)}`);
    }
  }
}
