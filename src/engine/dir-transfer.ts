/**
 * --with-dir: directories sent over the sync's own channel after the volume is
 * confirmed (DONE), each placed on the receiving host atomically. One at a
 * time, in the order of HELLO's dirs: the source sends DIR_BEGIN, DIR_ENTRY
 * and DIR_DATA, DIR_END, then waits for the target's DIR_DONE. Walking and
 * reading are in src/dirsync/send-tree.ts; building and placing the tree in
 * src/dirsync/tree-writer.ts and place.ts.
 */
import { MetadataWriter } from "../dirsync/metadata.js";
import { checkDest, Placement } from "../dirsync/place.js";
import { sendTree } from "../dirsync/send-tree.js";
import { type SessionBudget, TreeWriter } from "../dirsync/tree-writer.js";
import { BlockferryError } from "../errors.js";
import { protocolError } from "../protocol/body.js";
import { codecs } from "../protocol/codecs.js";
import { type DirEnd, DirStreamDigest, dirCodecs } from "../protocol/dir-messages.js";
import type { Frame, FrameChannel } from "../protocol/frames.js";
import { MessageType } from "../protocol/messages.js";
import { remoteError, unexpected } from "./peer.js";

/** The source's side of the channel after DONE: sends go through the rate limit; replies are DIR_DONE bodies. */
export interface DirChannel {
  send(type: MessageType, body: Buffer[]): Promise<void>;
  /** The body of the target's next DIR_DONE (rejects if the target fails). */
  reply(): Promise<Buffer>;
}

/** `--with-dir SRC[:DEST]`: DEST defaults to SRC. */
export interface DirSpec {
  source: string;
  dest: string;
}

export interface DirReport {
  dest: string;
  entries: number;
  bytes: number;
}

export async function sendDirectories(
  io: DirChannel,
  dirs: DirSpec[],
  log: (line: string) => void,
): Promise<DirReport[]> {
  const reports: DirReport[] = [];
  for (const [index, spec] of dirs.entries()) {
    let sent: { entries: number; bytes: number };
    try {
      sent = await sendTree((type, body) => io.send(type, body), index, spec.source, log);
    } catch (e) {
      // Tell the target why it will get no DIR_END, so it drops its staging copy now and says why.
      const error = e instanceof BlockferryError ? e : new BlockferryError("E_INTERNAL", String(e), { cause: e });
      if (error.code !== "E_NETWORK") {
        await io
          .send(MessageType.error, codecs.error.encode({ code: error.code, message: error.message }))
          .catch(() => {});
      }
      throw error;
    }
    const done = dirCodecs.done.decode(await io.reply());
    if (done.index !== index || done.entries !== sent.entries || done.bytes !== sent.bytes) {
      throw protocolError(
        `DIR_DONE for directory ${done.index} with ${done.entries} entries and ${done.bytes} bytes; expected directory ${index}, ${sent.entries} entries, ${sent.bytes} bytes`,
      );
    }
    log(`${spec.source}: ${sent.entries} entries, ${sent.bytes} bytes of files placed at ${spec.dest}`);
    reports.push({ dest: spec.dest, ...sent });
  }
  return reports;
}

/**
 * `checkPlace` is the receiver's policy (where this peer may place what),
 * asked again right before each directory: an earlier one of the same
 * session may have changed the tree.
 */
export async function receiveDirectories(
  channel: FrameChannel,
  dests: string[],
  log: (line: string) => void,
  checkPlace: (dest: string) => Promise<void> = async () => {},
): Promise<DirReport[]> {
  const checked = dests.map(checkDest);
  const metadata = new MetadataWriter(log);
  const budget = { entries: 0, bytes: 0 };
  const reports: DirReport[] = [];
  for (const [index, dest] of checked.entries()) {
    await checkPlace(dest);
    const report = await receiveTree(channel, index, dest, metadata, budget, log);
    await channel.send(MessageType.dirDone, dirCodecs.done.encode({ index, ...report }));
    log(`${dest}: placed, ${report.entries} entries, ${report.bytes} bytes of files`);
    reports.push({ dest: dests[index] as string, ...report });
  }
  return reports;
}

async function next(channel: FrameChannel, index: number): Promise<Frame> {
  const frame = await channel.receive();
  if (frame === undefined) {
    throw new BlockferryError("E_NETWORK", `the source closed the connection before the end of directory ${index}`);
  }
  if (frame.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), "source");
  return frame;
}

/** One directory, from DIR_BEGIN to DIR_END, built in staging and placed; any failure leaves DEST as it was. */
async function receiveTree(
  channel: FrameChannel,
  index: number,
  dest: string,
  metadata: MetadataWriter,
  budget: SessionBudget,
  log: (line: string) => void,
) {
  const first = await next(channel, index);
  if (first.type !== MessageType.dirBegin) throw unexpected(first.type, `before directory ${index}`);
  const begin = dirCodecs.begin.decode(first.body);
  if (begin.index !== index) throw protocolError(`DIR_BEGIN for directory ${begin.index}, expected ${index}`);
  const digest = new DirStreamDigest();
  digest.add(first.type, [first.body]);
  const placement = await Placement.prepare(dest, log);
  const tree = new TreeWriter(Buffer.from(placement.staging), begin.root, metadata, budget);
  try {
    for (;;) {
      const { type, body } = await next(channel, index);
      if (type === MessageType.dirEnd) {
        checkEnd(dirCodecs.end.decode(body), index, tree, digest);
        break;
      }
      digest.add(type, [body]);
      if (type === MessageType.dirEntry) await tree.add(dirCodecs.entry.decode(body));
      else if (type === MessageType.dirData) await tree.data(dirCodecs.data.decode(body));
      else throw unexpected(type, `in directory ${index}`);
    }
    await tree.finish();
    await placement.commit();
    return { entries: tree.entries, bytes: tree.bytes };
  } catch (e) {
    await tree.abort();
    await placement.discard();
    throw e;
  }
}

/** DIR_END must close the last file and match what arrived: the counts, then the stream's sha256. */
function checkEnd(end: DirEnd, index: number, tree: TreeWriter, digest: DirStreamDigest): void {
  const pending = tree.pendingFile;
  if (pending !== undefined) throw protocolError(`DIR_END before the data of ${pending}`);
  if (end.index !== index || end.entries !== tree.entries || end.bytes !== tree.bytes) {
    throw protocolError(
      `DIR_END for directory ${end.index} declares ${end.entries} entries and ${end.bytes} bytes; directory ${index} brought ${tree.entries} and ${tree.bytes}`,
    );
  }
  if (!end.digest.equals(digest.digest())) {
    throw new BlockferryError(
      "E_CORRUPT",
      `directory ${index}: the sha256 of what arrived differs from the source's; nothing was placed`,
    );
  }
}
