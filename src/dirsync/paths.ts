/** Paths as raw bytes: Linux names need not be UTF-8, and a string would re-encode them. */
import { BlockferryError, fromFsError } from "../errors.js";

const SLASH = Buffer.from("/");

export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 0) return name;
  return dir.at(-1) === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, SLASH, name]);
}

/** A failed file-system step (native or Node) as a BlockferryError saying what was being done. */
export function failed(e: unknown, what: string): BlockferryError {
  if (!(e instanceof BlockferryError)) return fromFsError(e, what);
  if (e.errno === undefined) return e;
  return new BlockferryError(e.code, `${what}: ${e.message}`, { errno: e.errno, op: e.op, cause: e });
}
