/** A job's abort signal (SIGINT, SIGTERM) tears its connection down: the sync fails, the target stays incomplete. */
import type { Duplex } from "node:stream";
import { BlockferryError } from "../errors.js";

/** E_INTERRUPTED if `signal` has aborted: before a job makes what it would have to tear down. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BlockferryError("E_INTERRUPTED", "interrupted by a signal");
}

/** Destroys `streams` when `signal` aborts (until the returned function is called). */
export function destroyOnAbort(signal: AbortSignal | undefined, ...streams: Duplex[]): () => void {
  if (signal === undefined) return () => {};
  const abort = () => {
    for (const s of streams) s.destroy(new BlockferryError("E_INTERRUPTED", "interrupted by a signal"));
  };
  if (signal.aborted) abort();
  signal.addEventListener("abort", abort, { once: true });
  return () => signal.removeEventListener("abort", abort);
}
