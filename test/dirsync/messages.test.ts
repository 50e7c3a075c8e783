import { describe, expect, it } from "vitest";
import { BlockferryError } from "../../src/errors.js";
import { type DirEntry, DirStreamDigest, dirCodecs, relativePathProblem } from "../../src/protocol/dir-messages.js";
import { MAX_BODY, MessageType } from "../../src/protocol/messages.js";

const meta = { mode: 0o4755, uid: 1234, gid: 5678, mtimeSec: -2, mtimeNsec: 999_999_999 };

function refused(decode: () => unknown, message: RegExp): void {
  try {
    decode();
  } catch (e) {
    expect(e).toBeInstanceOf(BlockferryError);
    expect((e as BlockferryError).code).toBe("E_PROTOCOL");
    expect((e as BlockferryError).message).toMatch(message);
    return;
  }
  throw new Error("decoded what it should have refused");
}

describe("DIR_* codecs", () => {
  it("round-trip every field, negative mtimes and raw bytes included", () => {
    expect(dirCodecs.begin.decode(Buffer.concat(dirCodecs.begin.encode({ index: 15, root: meta })))).toEqual({
      index: 15,
      root: meta,
    });
    const entries: DirEntry[] = [
      { kind: "file", path: Buffer.from([0x61, 0xff, 0x2f, 0x62]), meta, size: 2 ** 35 + 1, link: Buffer.alloc(0) },
      { kind: "dir", path: Buffer.from("a/b/c"), meta, size: 0, link: Buffer.alloc(0) },
      { kind: "symlink", path: Buffer.from("l"), meta, size: 0, link: Buffer.from("/etc/../x") },
    ];
    for (const e of entries) {
      const body = Buffer.concat(dirCodecs.entry.encode(e));
      expect(dirCodecs.entry.decode(body)).toEqual(e);
    }
    const end = { index: 3, entries: 1_000_000, bytes: 2 ** 36, digest: Buffer.alloc(32, 9) };
    expect(dirCodecs.end.decode(Buffer.concat(dirCodecs.end.encode(end)))).toEqual(end);
    const done = { index: 3, entries: 7, bytes: 8 };
    expect(dirCodecs.done.decode(Buffer.concat(dirCodecs.done.encode(done)))).toEqual(done);
  });

  it("fit the frame caps at their largest", () => {
    const long = Buffer.alloc(4096, 0x61);
    const entry = { kind: "symlink" as const, path: long, meta, size: 0, link: long };
    expect(Buffer.concat(dirCodecs.entry.encode(entry)).length).toBeLessThanOrEqual(MAX_BODY[MessageType.dirEntry]);
  });

  it("refuse paths that are not normalized and relative", () => {
    expect(relativePathProblem(Buffer.from("a/b.c/..d/..."))).toBe("");
    for (const bad of ["", "/", "/a", "a/", "a//b", ".", "..", "a/./b", "a/..", "a\0"]) {
      expect(relativePathProblem(Buffer.from(bad)), bad).not.toBe("");
    }
  });

  it("refuse malformed bodies", () => {
    const good = { kind: "file" as const, path: Buffer.from("f"), meta, size: 1, link: Buffer.alloc(0) };
    const body = Buffer.concat(dirCodecs.entry.encode(good));
    refused(() => dirCodecs.entry.decode(Buffer.concat([body, Buffer.alloc(1)])), /1 unexpected bytes/);
    refused(() => dirCodecs.entry.decode(body.subarray(0, body.length - 1)), /truncated/);
    const kind = Buffer.from(body);
    kind[0] = 4;
    refused(() => dirCodecs.entry.decode(kind), /kind 4/);
    const nsec = Buffer.concat(dirCodecs.begin.encode({ index: 0, root: { ...meta, mtimeNsec: 1e9 } }));
    refused(() => dirCodecs.begin.decode(nsec), /out of range/);
    const gid = Buffer.concat(dirCodecs.begin.encode({ index: 0, root: { ...meta, gid: 0xffffffff } }));
    refused(() => dirCodecs.begin.decode(gid), /not a valid uid:gid/);
    refused(() => dirCodecs.begin.decode(Buffer.concat(dirCodecs.begin.encode({ index: 16, root: meta }))), /index 16/);
    const fileLink = { ...good, link: Buffer.from("x") };
    refused(() => dirCodecs.entry.decode(Buffer.concat(dirCodecs.entry.encode(fileLink))), /symlink target "x"/);
    const noTarget = { ...good, kind: "symlink" as const, size: 0 };
    refused(() => dirCodecs.entry.decode(Buffer.concat(dirCodecs.entry.encode(noTarget))), /symlink target ""/);
    refused(() => dirCodecs.data.decode(Buffer.alloc(1024 * 1024 + 1)), /DIR_DATA of 1048577 bytes/);
  });

  it("the stream digest tells apart streams whose bytes concatenate alike", () => {
    const a = new DirStreamDigest();
    a.add(MessageType.dirData, [Buffer.from("ab")]);
    a.add(MessageType.dirData, [Buffer.from("c")]);
    const b = new DirStreamDigest();
    b.add(MessageType.dirData, [Buffer.from("a")]);
    b.add(MessageType.dirData, [Buffer.from("bc")]);
    expect(a.digest().equals(b.digest())).toBe(false);
  });
});
