/**
 * Sends one directory tree as DIR_BEGIN, DIR_ENTRY (and DIR_DATA after each
 * file's entry), DIR_END. Read one file at a time, one chunk at a time: memory
 * stays at a chunk or two however large the tree.
 */
import { resolve } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";
import { DirStreamDigest, dirCodecs, MAX_DIR_BYTES, MAX_DIR_ENTRIES, showPath } from "../protocol/dir-messages.js";
import { MessageType } from "../protocol/messages.js";
import { checkUnchanged, openSeen, readExactly } from "./read-file.js";
import { metaOf, statRoot, type WalkItem, walk } from "./walk.js";

export type Send = (type: MessageType, body: Buffer[]) => Promise<void>;

export interface TreeSent {
  entries: number;
  bytes: number;
}

export async function sendTree(
  send: Send,
  index: number,
  source: string,
  log: (line: string) => void,
): Promise<TreeSent> {
  const root = resolve(source);
  const digest = new DirStreamDigest();
  const put = async (type: MessageType, body: Buffer[]) => {
    digest.add(type, body);
    await send(type, body);
  };
  await put(MessageType.dirBegin, dirCodecs.begin.encode({ index, root: metaOf(await statRoot(root)) }));
  const sent: TreeSent = { entries: 0, bytes: 0 };
  for await (const item of walk(root, log)) {
    // The receiver's limits, checked here too: a clear message beats its refusal halfway through.
    if (sent.entries === MAX_DIR_ENTRIES) {
      throw new BlockferryError(
        "E_UNSUPPORTED",
        `--with-dir ${root}: over ${MAX_DIR_ENTRIES} entries, too many to send`,
      );
    }
    if (item.kind === "file") {
      const size = await sendFile(put, item, sent.bytes, log);
      if (size === undefined) continue;
      sent.bytes += size;
    } else {
      const entry = { kind: item.kind, path: item.rel, meta: metaOf(item.stat), size: 0, link: item.link };
      await put(MessageType.dirEntry, dirCodecs.entry.encode(entry));
    }
    sent.entries++;
  }
  await send(MessageType.dirEnd, dirCodecs.end.encode({ index, ...sent, digest: digest.digest() }));
  return sent;
}

/** One file's entry and data; returns its size, or undefined if it was removed since the walk saw it. */
async function sendFile(put: Send, item: WalkItem, before: number, log: (line: string) => void) {
  const opened = await openSeen(item.abs, item.stat);
  if (opened === undefined) {
    log(`warning: ${showPath(item.abs)} vanished while being sent`);
    return undefined;
  }
  try {
    const size = Number(opened.stat.size);
    if (before + size > MAX_DIR_BYTES) {
      throw new BlockferryError(
        "E_UNSUPPORTED",
        `--with-dir: ${showPath(item.abs)} brings the files past ${MAX_DIR_BYTES} bytes, more than a receiver accepts`,
      );
    }
    const entry = { kind: "file" as const, path: item.rel, meta: metaOf(opened.stat), size, link: item.link };
    await put(MessageType.dirEntry, dirCodecs.entry.encode(entry));
    for await (const chunk of readExactly(opened.handle, size, item.abs)) {
      await put(MessageType.dirData, dirCodecs.data.encode(chunk));
    }
    await checkUnchanged(opened, item.abs);
    return size;
  } catch (e) {
    throw fromFsError(e, `reading ${showPath(item.abs)}`);
  } finally {
    await opened.handle.close();
  }
}
