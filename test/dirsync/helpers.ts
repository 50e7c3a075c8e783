import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type DirChannel, type DirSpec, receiveDirectories, sendDirectories } from "../../src/engine/dir-transfer.js";
import { remoteError, unexpected } from "../../src/engine/peer.js";
import { BlockferryError } from "../../src/errors.js";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MessageType } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";

export interface Node {
  type: string;
  mode: string;
  owner: string;
  mtimeNs: string;
  size: number;
  /** sha256 of a file's content; a symlink's target; "" for a directory. */
  content: string;
}

/** Everything under `root` (the root itself as "."), by relative path; names as latin1 so any byte shows. */
export function snapshot(root: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const visit = (abs: Buffer, rel: string) => {
    const st = lstatSync(abs, { bigint: true });
    const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : "other";
    const content =
      type === "file"
        ? createHash("sha256").update(readFileSync(abs)).digest("hex")
        : type === "symlink"
          ? readlinkSync(abs, { encoding: "buffer" }).toString("latin1")
          : "";
    out[rel] = {
      type,
      mode: (st.mode & 0o7777n).toString(8),
      owner: `${st.uid}:${st.gid}`,
      mtimeNs: st.mtimeNs.toString(),
      size: type === "dir" ? 0 : Number(st.size),
      content,
    };
    if (type !== "dir") return;
    for (const name of readdirSync(abs, { encoding: "buffer" })) {
      const child = Buffer.concat([abs, Buffer.from("/"), name]);
      visit(child, rel === "." ? name.toString("latin1") : `${rel}/${name.toString("latin1")}`);
    }
  };
  visit(Buffer.from(root), ".");
  return out;
}

/** No staging or old tree left beside `dest`. */
export function leftovers(dest: string): string[] {
  return [".blockferry-new", ".blockferry-old"].map((s) => dest + s).filter((p) => existsSync(p));
}

/**
 * Both sides over an in-memory pair, the target failing as runTarget does
 * (an ERROR frame, then its end closed), so the source is never left waiting.
 */
export async function transfer(dirs: DirSpec[], dests = dirs.map((d) => d.dest)) {
  const pair = memoryPair();
  const source = new FrameChannel(pair.a);
  const target = new FrameChannel(pair.b);
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  const io: DirChannel = {
    send: (type, body) => source.send(type, body),
    async reply() {
      const frame = await source.receive();
      if (frame === undefined) throw new BlockferryError("E_NETWORK", "target closed");
      if (frame.type === MessageType.error) throw remoteError(codecs.error.decode(frame.body), "target");
      if (frame.type !== MessageType.dirDone) throw unexpected(frame.type, "waiting for DIR_DONE");
      return Buffer.from(frame.body);
    },
  };
  const received = receiveDirectories(target, dests, log).catch(async (e: BlockferryError) => {
    await target.send(MessageType.error, codecs.error.encode({ code: e.code, message: e.message })).catch(() => {});
    await target.end();
    throw e;
  });
  const [sent, got] = await Promise.allSettled([sendDirectories(io, dirs, log), received]);
  source.destroy();
  target.destroy();
  return { sent, got, lines };
}

export function errorOf(r: PromiseSettledResult<unknown>): BlockferryError {
  if (r.status === "fulfilled") throw new Error("expected a failure, it succeeded");
  return r.reason as BlockferryError;
}
