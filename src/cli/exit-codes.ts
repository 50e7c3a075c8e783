import type { ErrorCode } from "../errors.js";

/**
 * Process exit codes, one per class of failure, so a cron job or monitor can
 * tell them apart without parsing messages. 0 success, 1 unexpected.
 */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2, // bad arguments (commander also exits 2 on unknown options)
  notFound: 3,
  access: 4,
  busy: 5,
  noSpace: 6,
  io: 7,
  corrupt: 8,
  unsupported: 9,
  protocol: 10,
  unknownTarget: 11,
  targetTooSmall: 12,
  verify: 13,
  network: 14,
  auth: 15,
  snapshot: 16,
  hook: 17,
  incomplete: 18,
  stale: 19,
  config: 20,
  diverged: 21,
  promoted: 22,
  // 128 + the signal's number, as a shell reports a process killed by it
  interrupted: 130,
} as const;

const exitForCode: Record<ErrorCode, number> = {
  E_INVALID_ARG: EXIT.usage,
  E_RANGE: EXIT.usage,
  E_CLOSED: EXIT.internal,
  E_NOT_FOUND: EXIT.notFound,
  E_ACCESS: EXIT.access,
  E_READ_ONLY: EXIT.access,
  E_BUSY: EXIT.busy,
  E_NO_SPACE: EXIT.noSpace,
  E_NO_MEMORY: EXIT.noSpace,
  E_IO: EXIT.io,
  E_CORRUPT: EXIT.corrupt,
  E_UNSUPPORTED: EXIT.unsupported,
  E_PROTOCOL: EXIT.protocol,
  E_VERSION: EXIT.protocol,
  E_UNKNOWN_TARGET: EXIT.unknownTarget,
  E_TARGET_TOO_SMALL: EXIT.targetTooSmall,
  E_VERIFY: EXIT.verify,
  E_NETWORK: EXIT.network,
  E_AUTH: EXIT.auth,
  E_SNAPSHOT: EXIT.snapshot,
  E_HOOK: EXIT.hook,
  E_INTERRUPTED: EXIT.interrupted,
  E_INCOMPLETE: EXIT.incomplete,
  E_STALE: EXIT.stale,
  E_CONFIG: EXIT.config,
  E_DIVERGED: EXIT.diverged,
  E_PROMOTED: EXIT.promoted,
  E_INTERNAL: EXIT.internal,
};

/** Never 0 for a failure, even for a code this version does not know. */
export function exitCodeFor(code: ErrorCode): number {
  return exitForCode[code] ?? EXIT.internal;
}
