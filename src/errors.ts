/**
 * One error class for everything blockferry reports. `code` is stable and
 * meant for programs; the message is for people and says what was wrong,
 * what was expected and what was given.
 */
export type ErrorCode =
  | "E_INVALID_ARG" // a caller passed a value outside what the API accepts
  | "E_RANGE" // an offset or length outside the volume
  | "E_CLOSED" // the volume was closed
  | "E_NOT_FOUND" // ENOENT
  | "E_ACCESS" // EACCES, EPERM
  | "E_READ_ONLY" // EROFS, or a write to a volume opened for reading
  | "E_BUSY" // EBUSY: a block device mounted or claimed by another writer
  | "E_NO_SPACE" // ENOSPC, EDQUOT
  | "E_NO_MEMORY" // ENOMEM: a buffer could not be allocated
  | "E_IO" // EIO and other failures of the device
  | "E_CORRUPT" // bytes that do not decode
  | "E_UNSUPPORTED" // not a block device or regular file, or an operation it lacks
  | "E_PROTOCOL" // the peer sent something the protocol does not allow
  | "E_VERSION" // the peer speaks another protocol version
  | "E_UNKNOWN_TARGET" // a target name the receiver is not configured to write
  | "E_TARGET_TOO_SMALL" // a block device smaller than the source
  | "E_VERIFY" // the copy's fingerprint differs from the source's
  | "E_NETWORK" // the connection failed or closed early
  | "E_AUTH" // a peer not allowed, a key not pinned or changed, a wrong shared secret
  | "E_SNAPSHOT" // a snapshot could not be taken, or filled up and is invalid
  | "E_HOOK" // a --pre-snapshot or --post-snapshot command failed or timed out
  | "E_INTERRUPTED" // SIGINT or SIGTERM: cleaned up and stopped
  | "E_INCOMPLETE" // status: the copy is not complete and verified
  | "E_STALE" // status: the last completed sync is older than --max-age
  | "E_CONFIG" // a job file that does not parse or holds a bad value
  | "E_DIVERGED" // the target was written since its last sync: overwriting it would lose that (--force)
  | "E_PROMOTED" // the target was promoted to serve as the primary: syncs into it are refused (--force)
  | "E_INTERNAL"; // a bug: please report

/** Every code, known at run time (the Record makes the compiler check the list against the type). */
const KNOWN: Record<ErrorCode, true> = {
  E_INVALID_ARG: true,
  E_RANGE: true,
  E_CLOSED: true,
  E_NOT_FOUND: true,
  E_ACCESS: true,
  E_READ_ONLY: true,
  E_BUSY: true,
  E_NO_SPACE: true,
  E_NO_MEMORY: true,
  E_IO: true,
  E_CORRUPT: true,
  E_UNSUPPORTED: true,
  E_PROTOCOL: true,
  E_VERSION: true,
  E_UNKNOWN_TARGET: true,
  E_TARGET_TOO_SMALL: true,
  E_VERIFY: true,
  E_NETWORK: true,
  E_AUTH: true,
  E_SNAPSHOT: true,
  E_HOOK: true,
  E_INTERRUPTED: true,
  E_INCOMPLETE: true,
  E_STALE: true,
  E_CONFIG: true,
  E_DIVERGED: true,
  E_PROMOTED: true,
  E_INTERNAL: true,
};

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(KNOWN, code);
}

export interface ErrorDetails {
  errno?: number | undefined;
  op?: string | undefined;
  offset?: number | undefined;
  cause?: unknown;
}

export class BlockferryError extends Error {
  readonly code: ErrorCode;
  readonly errno: number | undefined;
  readonly op: string | undefined;
  readonly offset: number | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "BlockferryError";
    this.code = code;
    this.errno = details.errno;
    this.op = details.op;
    this.offset = details.offset;
  }
}

const codeForNodeErrno: Record<string, ErrorCode> = {
  ENOENT: "E_NOT_FOUND",
  EACCES: "E_ACCESS",
  EPERM: "E_ACCESS",
  EROFS: "E_READ_ONLY",
  ENOSPC: "E_NO_SPACE",
  EDQUOT: "E_NO_SPACE",
  EIO: "E_IO",
};

/** A Node.js file-system error as a BlockferryError, saying what was being done. */
export function fromFsError(e: unknown, what: string): BlockferryError {
  if (e instanceof BlockferryError) return e;
  const errnoCode = (e as NodeJS.ErrnoException).code ?? "";
  const code = codeForNodeErrno[errnoCode] ?? "E_IO";
  return new BlockferryError(code, `${what}: ${(e as Error).message}`, { cause: e });
}
