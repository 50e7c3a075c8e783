import { constants } from "node:os";
import { BlockferryError, type ErrorCode } from "../errors.js";
import type { RawNativeError } from "./addon.js";

const codeForErrno = new Map<number, ErrorCode>([
  [constants.errno.ENOENT, "E_NOT_FOUND"],
  [constants.errno.ENOTDIR, "E_NOT_FOUND"],
  [constants.errno.EACCES, "E_ACCESS"],
  [constants.errno.EPERM, "E_ACCESS"],
  [constants.errno.EROFS, "E_READ_ONLY"],
  [constants.errno.EBADF, "E_READ_ONLY"],
  [constants.errno.EBUSY, "E_BUSY"],
  [constants.errno.ENOSPC, "E_NO_SPACE"],
  [constants.errno.EDQUOT, "E_NO_SPACE"],
  [constants.errno.ENOMEM, "E_NO_MEMORY"],
  [constants.errno.EIO, "E_IO"],
  [constants.errno.EOPNOTSUPP, "E_UNSUPPORTED"],
]);

function isRawNativeError(e: unknown): e is RawNativeError {
  return e instanceof Error && typeof (e as Partial<RawNativeError>).kind === "string";
}

/** Turns whatever a native call rejected with into a BlockferryError. */
export function fromNative(e: unknown): BlockferryError {
  if (e instanceof BlockferryError) return e;
  if (!isRawNativeError(e)) {
    if (e instanceof TypeError || e instanceof RangeError) {
      const code = /allocate/.test(e.message) ? "E_NO_MEMORY" : "E_INVALID_ARG";
      return new BlockferryError(code, e.message, { cause: e });
    }
    return new BlockferryError("E_INTERNAL", e instanceof Error ? e.message : String(e), { cause: e });
  }
  const offset = e.offset !== undefined && e.offset >= 0 ? e.offset : undefined;
  const details = { errno: e.errno || undefined, op: e.op, offset, cause: e };
  switch (e.kind) {
    case "corrupt":
      return new BlockferryError("E_CORRUPT", e.message, details);
    case "range":
      return new BlockferryError("E_RANGE", e.message, details);
    case "closed":
      return new BlockferryError("E_CLOSED", e.message, details);
    case "invalid":
      return new BlockferryError(
        e.errno === constants.errno.EBADF ? "E_READ_ONLY" : "E_UNSUPPORTED",
        e.message,
        details,
      );
    case "system":
      return new BlockferryError(codeForErrno.get(e.errno ?? 0) ?? "E_IO", e.message, details);
  }
}

/** Runs a synchronous native call, turning what it throws into a BlockferryError. */
export function callNativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Runs a native call, turning both thrown and rejected errors into BlockferryErrors. */
export async function callNative<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw fromNative(e);
  }
}
