/** Where the source keeps the digest cache of each destination. */
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { FileDigestCache } from "../engine/digest-cache.js";
import type { Destination } from "../transport/destination.js";

/**
 * Names the volume a destination writes, whatever way it is reached: the digest
 * cache is kept per key, and `run` never runs two jobs with one key at once. Not
 * the port: a receiver started on another port is still the same target (a
 * cache that does not match it is refused by the target anyway, never trusted).
 */
export function destinationKey(dest: Destination): string {
  if (dest.kind === "tcp") return `tcp://${dest.endpoint.host}/${dest.targetName}`;
  if (dest.kind === "ssh") return `ssh://${dest.host}${dest.path}`;
  return resolve(dest.path);
}

/** The cache for `key` in `dir`: one file per key, named by its hash. */
export function digestCacheAt(dir: string, key: string, log: (line: string) => void): FileDigestCache {
  const name = `${createHash("sha256").update(key).digest("hex").slice(0, 32)}.digests`;
  return new FileDigestCache(join(dir, name), key, log);
}

/** BLOCKFERRY_CACHE_DIR if set; root keeps caches with the system's, anyone else in their own cache directory. */
export function defaultCacheDir(): string {
  if (process.env.BLOCKFERRY_CACHE_DIR) return process.env.BLOCKFERRY_CACHE_DIR;
  if (process.getuid?.() === 0) return "/var/cache/blockferry";
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "blockferry");
}
