import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { receiveDirectories } from "../../src/engine/dir-transfer.js";
import { BlockferryError } from "../../src/errors.js";
import { codecs } from "../../src/protocol/codecs.js";
import {
  type DirEnd,
  type DirMeta,
  DirStreamDigest,
  dirCodecs,
  MAX_DIR_BYTES,
} from "../../src/protocol/dir-messages.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MessageType } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";
import { scratchDir } from "../helpers/files.js";
import { leftovers, snapshot } from "./helpers.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
let serial = 0;
const fresh = (name: string) => join(scratch.dir, `${name}-${++serial}`);

type Msg = [MessageType, Buffer[]];
const NONE = Buffer.alloc(0);
const meta = (over: Partial<DirMeta> = {}): DirMeta => ({
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtimeSec: 1_600_000_000,
  mtimeNsec: 0,
  ...over,
});
const begin = (index = 0): Msg => [MessageType.dirBegin, dirCodecs.begin.encode({ index, root: meta() })];
const entry = (kind: "dir" | "file" | "symlink", path: string | Buffer, size = 0, link = NONE, m = meta()): Msg => [
  MessageType.dirEntry,
  dirCodecs.entry.encode({ kind, path: Buffer.from(path), meta: m, size, link }),
];
const dir = (path: string) => entry("dir", path);
const file = (path: string | Buffer, size: number) => entry("file", path, size);
const link = (path: string, to: string) => entry("symlink", path, 0, Buffer.from(to));
const data = (n: number): Msg => [MessageType.dirData, [Buffer.alloc(n, 0x61)]];

/** A DIR_END that matches everything before it (counts and sha256), unless `over` says otherwise. */
function end(before: Msg[], over: Partial<DirEnd> = {}): Msg {
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
const stream = (...msgs: Msg[]): Msg[] => [begin(), ...msgs, end([begin(), ...msgs])];

/** A destination that already holds a tree, and a directory beside it that a symlink could point at. */
function victim() {
  const dest = fresh("dest");
  mkdirSync(join(dest, "sub"), { recursive: true });
  writeFileSync(join(dest, "keep"), "old tree");
  writeFileSync(join(dest, "sub", "passwd"), "root:x:0:0");
  const outside = fresh("outside");
  mkdirSync(outside);
  return { dest, outside, before: snapshot(dest) };
}

/** A target receiving `msgs` from a hostile source, which then closes; returns what receiveDirectories gave. */
async function attack(dest: string, msgs: Msg[]): Promise<unknown> {
  const pair = memoryPair();
  const peer = new FrameChannel(pair.a);
  const target = new FrameChannel(pair.b);
  const result = receiveDirectories(target, [dest], () => {}).then(
    (r) => r,
    (e: unknown) => e,
  );
  for (const [type, body] of msgs) await peer.send(type, body).catch(() => {});
  await peer.end();
  const outcome = await result;
  peer.destroy();
  target.destroy();
  return outcome;
}

async function expectRefused(msgs: (outside: string) => Msg[], code: string, message: RegExp) {
  const { dest, outside, before } = victim();
  const outcome = await attack(dest, msgs(outside));
  expect(outcome).toBeInstanceOf(BlockferryError);
  expect((outcome as BlockferryError).code).toBe(code);
  expect((outcome as BlockferryError).message).toMatch(message);
  expect(snapshot(dest)).toEqual(before);
  expect(leftovers(dest)).toEqual([]);
  expect(readdirSync(outside)).toEqual([]);
}

describe("a hostile --with-dir stream is refused, the destination left as it was, no staging left", () => {
  it("accepts the well-formed stream the cases below each break one thing of", async () => {
    const { dest } = victim();
    const outcome = await attack(dest, stream(dir("a"), file("a/f", 5), data(5), link("b", "/etc"), file("c", 0)));
    expect(outcome).toEqual([{ dest, entries: 4, bytes: 5 }]);
    expect(readdirSync(dest).sort()).toEqual(["a", "b", "c"]);
    expect(leftovers(dest)).toEqual([]);
  });

  const badPaths: [string | Buffer, RegExp][] = [
    ["../x", /"\.\." component/],
    ["a/../../x", /"\.\." component/],
    ["/abs", /starts with "\/"/],
    ["a//b", /empty component/],
    ["a/", /empty component/],
    ["./a", /"\." component/],
    ["", /is empty/],
    [Buffer.from("a\0b"), /NUL/],
    ["x".repeat(4097), /4097 bytes, expected at most 4096/],
  ];
  for (const [path, message] of badPaths) {
    it(`path ${JSON.stringify(path.toString())}`, async () => {
      await expectRefused(() => stream(dir("a"), file(path, 1), data(1)), "E_PROTOCOL", message);
    });
  }

  it("a child under a symlink (never written through)", async () => {
    const why = /parent is not a directory sent before it/;
    await expectRefused((out) => stream(link("a", out), file("a/passwd", 4), data(4)), "E_PROTOCOL", why);
    await expectRefused((out) => stream(link("a", out), dir("a/x")), "E_PROTOCOL", why);
    await expectRefused(() => stream(link("a", "../../.."), dir("a/etc")), "E_PROTOCOL", why);
  });

  it("a child under a file, under a directory never sent, or under one the stream has left", async () => {
    const why = /parent is not a directory sent before it/;
    await expectRefused(() => stream(file("f", 0), file("f/x", 0)), "E_PROTOCOL", why);
    await expectRefused(() => stream(file("sub/passwd", 1), data(1)), "E_PROTOCOL", why);
    await expectRefused(() => stream(dir("a"), file("b", 0), file("a/x", 0)), "E_PROTOCOL", why);
  });

  it("a path sent twice, or out of order", async () => {
    await expectRefused(() => stream(file("f", 0), file("f", 0)), "E_PROTOCOL", /sent twice/);
    await expectRefused(() => stream(dir("d"), dir("d")), "E_PROTOCOL", /sent twice/);
    await expectRefused(() => stream(dir("d"), file("d/x", 0), file("d", 0)), "E_PROTOCOL", /sent twice/);
    await expectRefused(() => stream(file("b", 0), file("a", 0)), "E_PROTOCOL", /out of order/);
  });

  it("file data longer than declared, without a file, or cut short", async () => {
    await expectRefused(() => stream(file("f", 10), data(20)), "E_PROTOCOL", /DIR_DATA of 20 bytes for "f"/);
    await expectRefused(() => stream(file("f", 10), data(6), data(6)), "E_PROTOCOL", /DIR_DATA of 6 bytes for "f"/);
    await expectRefused(() => stream(data(5)), "E_PROTOCOL", /no file expecting data/);
    await expectRefused(() => stream(file("f", 2), data(2), data(1)), "E_PROTOCOL", /no file expecting data/);
    await expectRefused(() => stream(file("f", 10), data(5), file("g", 0)), "E_PROTOCOL", /before the data of "f"/);
    await expectRefused(() => stream(file("f", 10), data(5)), "E_PROTOCOL", /DIR_END before the data of "f"/);
    await expectRefused(() => stream([MessageType.dirData, [NONE]]), "E_PROTOCOL", /DIR_DATA of 0 bytes/);
  });

  it("a bad checksum (E_CORRUPT) or wrong counts in DIR_END", async () => {
    const body = [file("f", 3), data(3)];
    const before = [begin(), ...body];
    const wrong = Buffer.alloc(32, 7);
    await expectRefused(() => [...before, end(before, { digest: wrong })], "E_CORRUPT", /sha256/);
    await expectRefused(() => [...before, end(before, { entries: 2 })], "E_PROTOCOL", /declares 2 entries/);
    await expectRefused(() => [...before, end(before, { bytes: 4 })], "E_PROTOCOL", /and 4 bytes/);
  });

  it("messages out of place, values out of range", async () => {
    await expectRefused(() => [file("f", 0)], "E_PROTOCOL", /unexpected message type 17 before directory 0/);
    await expectRefused(() => [begin(1)], "E_PROTOCOL", /DIR_BEGIN for directory 1/);
    await expectRefused(() => stream(begin()), "E_PROTOCOL", /unexpected message type 16 in directory 0/);
    const ack = codecs.ack.encode({ blocksDone: 0, fingerprint: Buffer.alloc(16) });
    await expectRefused(() => stream([MessageType.ack, ack]), "E_PROTOCOL", /unexpected message type 6/);
    const setuidRoot = entry("file", "f", 0, NONE, meta({ mode: 0o10755 }));
    await expectRefused(() => stream(setuidRoot), "E_PROTOCOL", /mode 0o10755/);
    await expectRefused(() => stream(entry("file", "f", 0, NONE, meta({ uid: 0xffffffff }))), "E_PROTOCOL", /owner/);
    await expectRefused(() => stream(file("f", MAX_DIR_BYTES + 1)), "E_PROTOCOL", /expected at most/);
    await expectRefused(() => stream(entry("dir", "d", 5)), "E_PROTOCOL", /a dir of 5 bytes/);
    await expectRefused(() => stream(entry("symlink", "l", 0, Buffer.from("a\0b"))), "E_PROTOCOL", /symlink target/);
  });

  it("a source that closes or fails halfway", async () => {
    await expectRefused(() => [begin(), dir("a"), file("a/f", 9), data(4)], "E_NETWORK", /closed the connection/);
    const error: Msg = [MessageType.error, codecs.error.encode({ code: "E_IO", message: "disk on fire" })];
    await expectRefused(() => [begin(), dir("a"), error], "E_IO", /source: disk on fire/);
  });

  it("a destination that is not a normalized absolute path", async () => {
    for (const dest of ["/x/../etc", "relative", "/", "/a//b"]) {
      const outcome = await attack(dest, stream(file("f", 0)));
      expect((outcome as BlockferryError).code).toBe("E_PROTOCOL");
    }
  });
});

describe("the destination stays the old tree until DIR_END", () => {
  it("after a crash between the renames, the old tree is back even if the next transfer is refused", async () => {
    const { dest, before } = victim();
    renameSync(dest, `${dest}.blockferry-old`);
    mkdirSync(`${dest}.blockferry-new`);
    const outcome = await attack(dest, stream(file("f", 1), data(2)));
    expect((outcome as BlockferryError).code).toBe("E_PROTOCOL");
    expect(snapshot(dest)).toEqual(before);
    expect(leftovers(dest)).toEqual([]);
  });

  it("builds in a private staging directory, then swaps", async () => {
    const { dest, before } = victim();
    const pair = memoryPair();
    const peer = new FrameChannel(pair.a);
    const result = receiveDirectories(new FrameChannel(pair.b), [dest], () => {});
    const msgs = [begin(), dir("d"), file("d/f", 3), data(3)];
    for (const [type, body] of msgs) await peer.send(type, body);
    const staging = `${dest}.blockferry-new`;
    for (let i = 0; i < 500 && !existsSync(join(staging, "d", "f")); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(join(staging, "d", "f"))).toBe(true);
    expect(lstatSync(staging).mode & 0o777).toBe(0o700);
    expect(snapshot(dest)).toEqual(before);
    await peer.send(...end(msgs));
    expect(await result).toEqual([{ dest, entries: 2, bytes: 3 }]);
    expect(readdirSync(dest)).toEqual(["d"]);
    expect(lstatSync(dest).mode & 0o777).toBe(0o755);
    expect(leftovers(dest)).toEqual([]);
    const done = await peer.receive();
    expect(done?.type).toBe(MessageType.dirDone);
    expect(dirCodecs.done.decode(done?.body ?? NONE)).toEqual({ index: 0, entries: 2, bytes: 3 });
    peer.destroy();
  });
});
