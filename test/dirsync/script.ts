/**
 * Scripted --with-dir sources: the messages a source sends, built by hand so
 * a test can send anything in any order, and connections to a receiver that
 * a test drives step by step.
 */
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { receiveDirectories } from "../../src/engine/dir-transfer.js";
import { type DirEnd, type DirMeta, DirStreamDigest, dirCodecs } from "../../src/protocol/dir-messages.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MessageType } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";

export type Msg = [MessageType, Buffer[]];
export const NONE = Buffer.alloc(0);

export const meta = (over: Partial<DirMeta> = {}): DirMeta => ({
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtimeSec: 1_600_000_000,
  mtimeNsec: 0,
  ...over,
});
export const begin = (index = 0): Msg => [MessageType.dirBegin, dirCodecs.begin.encode({ index, root: meta() })];
export const entry = (
  kind: "dir" | "file" | "symlink",
  path: string | Buffer,
  size = 0,
  link = NONE,
  m = meta(),
): Msg => [MessageType.dirEntry, dirCodecs.entry.encode({ kind, path: Buffer.from(path), meta: m, size, link })];
export const dir = (path: string) => entry("dir", path);
export const file = (path: string | Buffer, size: number) => entry("file", path, size);
export const link = (path: string, to: string) => entry("symlink", path, 0, Buffer.from(to));
export const data = (n: number): Msg => [MessageType.dirData, [Buffer.alloc(n, 0x61)]];

/** A DIR_END that matches everything before it (counts and sha256), unless `over` says otherwise. */
export function end(before: Msg[], over: Partial<DirEnd> = {}): Msg {
  const digest = new DirStreamDigest();
  let entries = 0;
  let bytes = 0;
  for (const [type, body] of before) {
    digest.add(type, body);
    if (type === MessageType.dirEntry) entries++;
    if (type === MessageType.dirData) bytes += body.reduce((n, b) => n + b.length, 0);
  }
  return [MessageType.dirEnd, dirCodecs.end.encode({ index: 0, entries, bytes, digest: digest.digest(), ...over })];
}

/** A well-formed stream around `msgs`: DIR_BEGIN, them, a DIR_END that matches. */
export const stream = (...msgs: Msg[]): Msg[] => [begin(), ...msgs, end([begin(), ...msgs])];

/** One connection to a receiver placing a single directory at `dest`, driven message by message. */
export function connect(dest: string, checkPlace?: (dest: string) => Promise<void>) {
  const pair = memoryPair();
  const peer = new FrameChannel(pair.a);
  const target = new FrameChannel(pair.b);
  const lines: string[] = [];
  const sent: Msg[] = [];
  const outcome = receiveDirectories(target, [dest], (l) => lines.push(l), checkPlace).then(
    (r) => r,
    (e: unknown) => e,
  );
  return {
    lines,
    outcome,
    /** Sends `msgs` (a refusal may have closed the connection: sending then fails, which is fine). */
    async send(...msgs: Msg[]) {
      for (const [type, body] of msgs) {
        sent.push([type, body]);
        await peer.send(type, body).catch(() => {});
      }
    },
    /** The DIR_END that matches everything sent so far. */
    end: () => end(sent),
    async close() {
      await peer.end();
      const r = await outcome;
      peer.destroy();
      target.destroy();
      return r;
    },
  };
}

/** Waits (up to 10 s) until `ready` holds; false if it never did. */
export async function until(ready: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 1000; i++) {
    if (await ready()) return true;
    await sleep(10);
  }
  return ready();
}

export const exists = (path: string) => () => existsSync(path);
