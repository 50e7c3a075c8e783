/**
 * --with-dir wire messages (see the transcript in messages.ts). Paths and
 * symlink targets travel as raw bytes, as Linux stores them: a name that is
 * not UTF-8 arrives unchanged. Decoders trust nothing: every length is capped,
 * every path must be relative and normalized, every number in range.
 *
 *   meta       u32 mode (permission bits, <= 0o7777), u32 uid, u32 gid,
 *              i64 mtime seconds, u32 mtime nanoseconds                    (24 bytes)
 *   DIR_BEGIN  u8 index, meta of the root
 *   DIR_ENTRY  u8 kind (1 dir, 2 file, 3 symlink), u16 length + path, meta,
 *              u64 size (files; 0 otherwise), u16 length + symlink target ("" otherwise)
 *   DIR_DATA   1 to MAX_DIR_DATA_BYTES bytes of the file whose entry came last
 *   DIR_END    u8 index, u64 entries, u64 file bytes, sha256 of the stream
 *   DIR_DONE   u8 index, u64 entries, u64 file bytes
 */
import { createHash, type Hash } from "node:crypto";
import { quoted } from "../printable.js";
import { BodyReader, BodyWriter, protocolError } from "./body.js";
import { MAX_DIR_DATA_BYTES, MAX_DIR_PATH_BYTES, MAX_DIRS, type MessageType } from "./messages.js";

/** What a receiver accepts in one directory: generous for /etc, bounded for a hostile peer. */
export const MAX_DIR_ENTRIES = 1_000_000;
export const MAX_DIR_BYTES = 64 * 1024 ** 3;
export const DIR_DIGEST_SIZE = 32;
/** uid_t -1 tells chown "leave unchanged": never a real owner. */
const NO_ID = 0xffffffff;

export type DirEntryKind = "dir" | "file" | "symlink";
const kindCodes: Record<DirEntryKind, number> = { dir: 1, file: 2, symlink: 3 };
const kindNames: Record<number, DirEntryKind> = { 1: "dir", 2: "file", 3: "symlink" };

export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (may be negative) and nanoseconds within it. */
  mtimeSec: number;
  mtimeNsec: number;
}
export interface DirBegin {
  index: number;
  root: DirMeta;
}
export interface DirEntry {
  kind: DirEntryKind;
  /** Relative to the directory's root, normalized, components separated by "/". */
  path: Buffer;
  meta: DirMeta;
  /** File size in bytes; 0 for directories and symlinks. */
  size: number;
  /** Symlink target, verbatim; empty for the other kinds. */
  link: Buffer;
}
export interface DirEnd {
  index: number;
  entries: number;
  bytes: number;
  digest: Buffer;
}
export interface DirDone {
  index: number;
  entries: number;
  bytes: number;
}

/** A path for messages: lossy for names that are not UTF-8, which is fine for people. */
export function showPath(path: Buffer | string): string {
  return quoted(path);
}

/** Why `path` is not a normalized relative path ("" if it is one). */
export function relativePathProblem(path: Buffer): string {
  if (path.length === 0) return "is empty";
  if (path.length > MAX_DIR_PATH_BYTES) return `is ${path.length} bytes, more than ${MAX_DIR_PATH_BYTES}`;
  if (path.includes(0)) return "holds a NUL byte";
  if (path[0] === 0x2f) return 'starts with "/"';
  for (const part of path.toString("latin1").split("/")) {
    if (part === "") return 'has an empty component ("//" or a trailing "/")';
    if (part === "." || part === "..") return `has a "${part}" component`;
  }
  return "";
}

function writeMeta(w: BodyWriter, m: DirMeta): BodyWriter {
  return w
    .u32(m.mode)
    .u32(m.uid)
    .u32(m.gid)
    .u64(BigInt.asUintN(64, BigInt(m.mtimeSec)))
    .u32(m.mtimeNsec);
}

function readMeta(r: BodyReader, what: string): DirMeta {
  const mode = r.u32();
  const uid = r.u32();
  const gid = r.u32();
  const sec = BigInt.asIntN(64, r.bigU64());
  const mtimeNsec = r.u32();
  if (mode > 0o7777) throw protocolError(`${what}: mode 0o${mode.toString(8)}, expected at most 0o7777`);
  if (uid === NO_ID || gid === NO_ID) throw protocolError(`${what}: owner ${uid}:${gid} is not a valid uid:gid`);
  if (sec > BigInt(Number.MAX_SAFE_INTEGER) || sec < BigInt(Number.MIN_SAFE_INTEGER) || mtimeNsec >= 1e9) {
    throw protocolError(`${what}: mtime ${sec}s ${mtimeNsec}ns is out of range`);
  }
  return { mode, uid, gid, mtimeSec: Number(sec), mtimeNsec };
}

/** u16 length, then raw bytes (copied: a received body is valid only until the next frame). */
function readBytes(r: BodyReader, max: number, what: string): Buffer {
  const n = r.u16();
  if (n > max) throw protocolError(`${what}: ${n} bytes, expected at most ${max}`);
  return Buffer.from(r.bytes(n));
}

function checkIndex(index: number, what: string): number {
  if (index >= MAX_DIRS) throw protocolError(`${what}: directory index ${index}, expected below ${MAX_DIRS}`);
  return index;
}

export const dirCodecs = {
  begin: {
    encode: (m: DirBegin): Buffer[] => [writeMeta(new BodyWriter().u8(m.index), m.root).toBuffer()],
    decode(body: Buffer): DirBegin {
      const r = new BodyReader(body, "DIR_BEGIN");
      const m = { index: checkIndex(r.u8(), "DIR_BEGIN"), root: readMeta(r, "DIR_BEGIN") };
      r.end();
      return m;
    },
  },
  entry: {
    encode(m: DirEntry): Buffer[] {
      const w = new BodyWriter().u8(kindCodes[m.kind]).u16(m.path.length).bytes(m.path);
      writeMeta(w, m.meta).u64(m.size).u16(m.link.length).bytes(m.link);
      return [w.toBuffer()];
    },
    decode(body: Buffer): DirEntry {
      const r = new BodyReader(body, "DIR_ENTRY");
      const code = r.u8();
      const kind = kindNames[code];
      if (kind === undefined) throw protocolError(`DIR_ENTRY: kind ${code}, expected 1 (dir), 2 (file) or 3 (symlink)`);
      const path = readBytes(r, MAX_DIR_PATH_BYTES, "DIR_ENTRY path");
      const problem = relativePathProblem(path);
      if (problem !== "") throw protocolError(`DIR_ENTRY: path ${showPath(path)} ${problem}`);
      const what = `DIR_ENTRY ${showPath(path)}`;
      const meta = readMeta(r, what);
      const size = r.u64();
      const link = readBytes(r, MAX_DIR_PATH_BYTES, `${what} symlink target`);
      r.end();
      if (kind !== "file" && size !== 0) throw protocolError(`${what}: a ${kind} of ${size} bytes, expected 0`);
      if (size > MAX_DIR_BYTES) throw protocolError(`${what}: ${size} bytes, expected at most ${MAX_DIR_BYTES}`);
      if (kind === "symlink" ? link.length === 0 || link.includes(0) : link.length !== 0) {
        throw protocolError(`${what}: a ${kind} with symlink target ${showPath(link)}`);
      }
      return { kind, path, meta, size, link };
    },
  },
  data: {
    encode: (chunk: Buffer): Buffer[] => [chunk],
    decode(body: Buffer): Buffer {
      if (body.length === 0 || body.length > MAX_DIR_DATA_BYTES) {
        throw protocolError(`DIR_DATA of ${body.length} bytes, expected 1 to ${MAX_DIR_DATA_BYTES}`);
      }
      return body;
    },
  },
  end: {
    encode: (m: DirEnd): Buffer[] => [
      new BodyWriter().u8(m.index).u64(m.entries).u64(m.bytes).bytes(m.digest).toBuffer(),
    ],
    decode(body: Buffer): DirEnd {
      const r = new BodyReader(body, "DIR_END");
      const m = {
        index: checkIndex(r.u8(), "DIR_END"),
        entries: r.u64(),
        bytes: r.u64(),
        digest: Buffer.from(r.bytes(DIR_DIGEST_SIZE)),
      };
      r.end();
      return m;
    },
  },
  done: {
    encode: (m: DirDone): Buffer[] => [new BodyWriter().u8(m.index).u64(m.entries).u64(m.bytes).toBuffer()],
    decode(body: Buffer): DirDone {
      const r = new BodyReader(body, "DIR_DONE");
      const m = { index: checkIndex(r.u8(), "DIR_DONE"), entries: r.u64(), bytes: r.u64() };
      r.end();
      return m;
    },
  },
} as const;

/**
 * The sha256 DIR_END carries: over DIR_BEGIN, every DIR_ENTRY and every
 * DIR_DATA, each as type, u32 length, body, so that no two streams of
 * messages hash alike. The channel is already authenticated; this catches a
 * sender or receiver that lost or reordered bytes on the way.
 */
export class DirStreamDigest {
  readonly #hash: Hash = createHash("sha256");

  add(type: MessageType, body: Buffer[]): void {
    const head = Buffer.allocUnsafe(5);
    head.writeUInt8(type, 0);
    head.writeUInt32BE(
      body.reduce((n, b) => n + b.length, 0),
      1,
    );
    this.#hash.update(head);
    for (const b of body) this.#hash.update(b);
  }

  digest(): Buffer {
    return this.#hash.digest();
  }
}
