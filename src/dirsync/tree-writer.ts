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
 * Every entry is made relative to the descriptor of its parent, which this
 * writer created and holds open (the root: the staging directory, held by
 * the placement): no path is looked up again, so a directory on the way
 * swapped for a symlink, by anyone, is never followed. mkdirat, symlinkat and
 * O_CREAT|O_EXCL|O_NOFOLLOW fail rather than reuse or follow anything at the
 * name. A tree d levels deep holds d descriptors open.
 */
import type { DirFd, FileFd } from "../native/index.js";
import { protocolError } from "../protocol/body.js";
import { type DirEntry, type DirMeta, MAX_DIR_BYTES, MAX_DIR_ENTRIES, showPath } from "../protocol/dir-messages.js";
import type { MetadataWriter } from "./metadata.js";
import { failed } from "./paths.js";

interface Level {
  /** The name as a latin1 string: one char per byte, so `<` compares as the sender's sort did. */
  name: string;
  dir: DirFd;
  /** Relative to the root, for messages. */
  rel: Buffer;
  meta: DirMeta;
  last: string | undefined;
}

interface PendingFile {
  handle: FileFd;
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
  /** The staging directory's path, for messages. */
  readonly #where: string;
  #file: PendingFile | undefined;

  /**
   * `root` stays open after the writer is done (its owner closes it); the
   * writer closes the descriptors it opens. `metadata` and `budget` are
   * shared by the trees of one transfer: one warning, one cap.
   */
  constructor(root: DirFd, where: string, meta: DirMeta, metadata: MetadataWriter, budget: SessionBudget) {
    this.#chain = [{ name: "", dir: root, rel: Buffer.alloc(0), meta, last: undefined }];
    this.#where = where;
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
    const bytes = Buffer.from(name, "latin1");
    try {
      if (entry.kind === "dir") {
        const dir = await parent.dir.makeDir(bytes, 0o700);
        this.#chain.push({ name, dir, rel: entry.path, meta: entry.meta, last: undefined });
      } else if (entry.kind === "symlink") {
        await parent.dir.symlink(bytes, entry.link);
        await this.#meta.applyToSymlink(parent.dir, bytes, entry.meta, entry.path);
      } else {
        const handle = await parent.dir.createFile(bytes, 0o600);
        this.#file = { handle, rel: entry.path, meta: entry.meta, size: entry.size, written: 0 };
        if (entry.size === 0) await this.#finishFile(this.#file);
      }
    } catch (e) {
      throw failed(e, `creating ${showPath(entry.path)} in ${showPath(this.#where)}`);
    }
  }

  async data(chunk: Buffer): Promise<void> {
    const f = this.#file;
    if (f === undefined) throw protocolError(`DIR_DATA of ${chunk.length} bytes with no file expecting data`);
    if (chunk.length > f.size - f.written) {
      throw protocolError(`DIR_DATA of ${chunk.length} bytes for ${this.pendingFile}`);
    }
    try {
      await f.handle.write(chunk, f.written);
      f.written += chunk.length;
      this.bytes += chunk.length;
      this.#budget.bytes += chunk.length;
      if (f.written === f.size) await this.#finishFile(f);
    } catch (e) {
      throw failed(e, `writing ${showPath(f.rel)} in ${showPath(this.#where)}`);
    }
  }

  /** Closes every directory, the root last; everything is then on disk (fsynced). */
  async finish(): Promise<void> {
    if (this.#file !== undefined) throw protocolError(`DIR_END before the data of ${this.pendingFile}`);
    for (let level = this.#chain.pop(); level !== undefined; level = this.#chain.pop()) await this.#closeDir(level);
  }

  /** After a failure: lets go of every descriptor it opened, so the staging directory can be removed. */
  async abort(): Promise<void> {
    await this.#file?.handle.close().catch(() => {});
    this.#file = undefined;
    for (const level of this.#chain.splice(1)) await level.dir.close().catch(() => {});
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
      await this.#meta.apply(f.handle, f.meta, f.rel, true);
      await f.handle.sync();
    } finally {
      await f.handle.close();
    }
  }

  /** A directory the stream has left: its metadata, fsync, and (unless it is the root) its descriptor closed. */
  async #closeDir(level: Level): Promise<void> {
    const isRoot = level.rel.length === 0;
    try {
      await this.#meta.apply(level.dir, level.meta, isRoot ? Buffer.from(".") : level.rel, false);
      await level.dir.sync();
    } catch (e) {
      throw failed(e, `finishing the directory ${showPath(isRoot ? "." : level.rel)} in ${showPath(this.#where)}`);
    } finally {
      if (!isRoot) await level.dir.close();
    }
  }
}
