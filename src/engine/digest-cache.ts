/**
 * The source's digest cache of a target: the digest of every block the
 * target holds after the last verified sync, so that the next sync compares
 * against the cache and the target reads nothing but the changed blocks
 * offered to it piece by piece (two levels). One file per destination:
 *
 *   bytes [0, 4096)   header: JSON (with its own checksum), padded with spaces
 *   then              16 bytes per block, in block order
 *
 * The header names the destination, the target's generation, the digest seed,
 * the block size, the volume size and the fingerprint of the digests. Before
 * it is used, the whole file is read and its digests folded: a file that is
 * short, long, damaged or does not fold to its fingerprint is ignored with a
 * warning, never trusted. A new cache is written beside and renamed into place
 * only after the target confirmed the copy.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fromFsError } from "../errors.js";
import { DIGEST_SIZE } from "../native/index.js";
import type { DigestQueue } from "./digest-queue.js";
import { Fingerprint, foldBatch } from "./fingerprint.js";

const HEADER_BYTES = 4096;
const FORMAT = "blockferry-digest-cache";
/** Digests read or written per file operation (1 MiB). */
const CHUNK_BLOCKS = 65536;

interface Header {
  format: typeof FORMAT;
  version: 1;
  destination: string;
  generation: number;
  seed: string;
  blockSize: number;
  sourceSize: number;
  fingerprint: string;
  /** Syncs in a row that used a cache instead of the target reading its copy (0: this one read it). */
  cachedRuns: number;
  writtenAt: string;
}

function checksum(h: Header): string {
  return createHash("sha256").update(JSON.stringify(h)).digest("hex");
}

function isHeader(v: unknown): v is Header {
  if (typeof v !== "object" || v === null) return false;
  const h = v as Record<string, unknown>;
  return (
    h.format === FORMAT &&
    h.version === 1 &&
    typeof h.destination === "string" &&
    Number.isSafeInteger(h.generation) &&
    (h.generation as number) > 0 &&
    typeof h.seed === "string" &&
    /^\d{1,20}$/.test(h.seed) &&
    Number.isSafeInteger(h.blockSize) &&
    Number.isSafeInteger(h.sourceSize) &&
    typeof h.fingerprint === "string" &&
    /^[0-9a-f]{32}$/.test(h.fingerprint) &&
    Number.isSafeInteger(h.cachedRuns) &&
    (h.cachedRuns as number) >= 0
  );
}

/** A cache checked and open for reading, in block order. */
export interface CachedDigests {
  readonly generation: number;
  readonly seed: bigint;
  readonly fingerprint: Buffer;
  /** Syncs in a row that used a cache, up to the one that wrote this. */
  readonly cachedRuns: number;
  /** Adds the cache's digests of blocks [queue.covered, end) to `queue`. */
  fill(queue: DigestQueue, end: number): Promise<void>;
  close(): Promise<void>;
}

/** A new cache being written, block by block in order. */
export interface CacheWriter {
  /** Digests of the next `digests.length / 16` blocks. */
  add(digests: Buffer): Promise<void>;
  /** The next `count` blocks all have this digest (a hole). */
  repeat(digest: Buffer, count: number): Promise<void>;
  /** Makes it the cache, atomically, once the target confirmed the copy as generation `generation`. */
  commit(generation: number, fingerprint: Buffer, cachedRuns: number): Promise<void>;
  /** Throws it away. */
  abort(): Promise<void>;
}

export interface DigestCacheStore {
  readonly path: string;
  /** The cache for this volume geometry, checked; undefined (after a warning if one was there but unusable). */
  open(blockSize: number, sourceSize: number): Promise<CachedDigests | undefined>;
  create(blockSize: number, sourceSize: number, seed: bigint): Promise<CacheWriter>;
}

export class FileDigestCache implements DigestCacheStore {
  readonly path: string;
  readonly #destination: string;
  readonly #warn: (line: string) => void;

  constructor(path: string, destination: string, warn: (line: string) => void) {
    this.path = path;
    this.#destination = destination;
    this.#warn = warn;
  }

  async open(blockSize: number, sourceSize: number): Promise<CachedDigests | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, constants.O_RDONLY);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      this.#warn(`digest cache ${this.path} cannot be read (${(e as Error).message}): comparing with the target`);
      return undefined;
    }
    try {
      const why = await this.#check(handle, blockSize, sourceSize);
      if (typeof why !== "string") return why;
      this.#warn(`digest cache ${this.path} ignored: ${why}; comparing with the target`);
    } catch (e) {
      this.#warn(`digest cache ${this.path} ignored: ${(e as Error).message}; comparing with the target`);
    }
    await handle.close();
    return undefined;
  }

  /** The cache, or why it cannot be used. */
  async #check(handle: FileHandle, blockSize: number, sourceSize: number): Promise<CachedDigests | string> {
    const blockCount = Math.ceil(sourceSize / blockSize);
    const { size } = await handle.stat();
    if (size < HEADER_BYTES) return `it is ${size} bytes, shorter than its header`;
    const head = Buffer.alloc(HEADER_BYTES);
    await handle.read(head, 0, HEADER_BYTES, 0);
    let parsed: { header?: unknown; checksum?: unknown };
    try {
      parsed = JSON.parse(head.toString("utf8").trimEnd()) as typeof parsed;
    } catch {
      return "its header is damaged";
    }
    const h = parsed.header;
    if (!isHeader(h) || parsed.checksum !== checksum(h)) return "its header is damaged";
    if (h.destination !== this.#destination) return `it is for ${h.destination}`;
    if (h.blockSize !== blockSize || h.sourceSize !== sourceSize) {
      return `it is for ${h.sourceSize} bytes in blocks of ${h.blockSize}, this sync ${sourceSize} in blocks of ${blockSize}`;
    }
    const expected = HEADER_BYTES + blockCount * DIGEST_SIZE;
    if (size !== expected) return `it is ${size} bytes, expected ${expected} (truncated or damaged)`;
    const seed = BigInt(h.seed);
    const sum = new Fingerprint();
    const chunk = Buffer.alloc(CHUNK_BLOCKS * DIGEST_SIZE);
    for (let first = 0; first < blockCount; first += CHUNK_BLOCKS) {
      const count = Math.min(CHUNK_BLOCKS, blockCount - first);
      await readExactly(handle, chunk, count * DIGEST_SIZE, HEADER_BYTES + first * DIGEST_SIZE);
      sum.add(await foldBatch(chunk, count, first, seed));
    }
    if (sum.hex !== h.fingerprint) return "its digests do not match its fingerprint (damaged)";
    return {
      generation: h.generation,
      cachedRuns: h.cachedRuns,
      seed,
      fingerprint: sum.toBuffer(),
      async fill(queue, end) {
        // A chunk at a time (1 MiB), not the few blocks asked for: one file read per 64Ki blocks.
        for (let first = queue.covered; first < end; first += CHUNK_BLOCKS) {
          const count = Math.min(CHUNK_BLOCKS, blockCount - first);
          const digests = Buffer.alloc(count * DIGEST_SIZE);
          await readExactly(handle, digests, digests.length, HEADER_BYTES + first * DIGEST_SIZE);
          queue.add({ firstBlock: first, count, digests });
        }
      },
      close: () => handle.close(),
    };
  }

  async create(blockSize: number, sourceSize: number, seed: bigint): Promise<CacheWriter> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    let handle: FileHandle;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await removeLeftovers(dir, basename(this.path));
      handle = await open(tmp, "w", 0o600);
    } catch (e) {
      throw fromFsError(e, `cannot write the digest cache ${this.path}`);
    }
    // Digests are copied once, into this chunk (the caller's buffer goes back to a pool), and written a chunk at a time.
    const chunk = Buffer.alloc(CHUNK_BLOCKS * DIGEST_SIZE);
    let used = 0;
    let at = HEADER_BYTES;
    const flush = async () => {
      await handle.write(chunk, 0, used, at);
      at += used;
      used = 0;
    };
    const append = async (data: Buffer) => {
      for (let from = 0; from < data.length; ) {
        const n = data.copy(chunk, used, from);
        used += n;
        from += n;
        if (used === chunk.length) await flush();
      }
    };
    const destination = this.#destination;
    const path = this.path;
    return {
      add: append,
      async repeat(digest, count) {
        for (let left = count; left > 0; ) {
          const n = Math.min(left, (chunk.length - used) / DIGEST_SIZE);
          chunk.fill(digest, used, used + n * DIGEST_SIZE); // the pattern, repeated
          used += n * DIGEST_SIZE;
          left -= n;
          if (used === chunk.length) await flush();
        }
      },
      async commit(generation, fingerprint, cachedRuns) {
        await flush();
        const header: Header = {
          format: FORMAT,
          version: 1,
          destination,
          generation,
          seed: seed.toString(),
          blockSize,
          sourceSize,
          fingerprint: fingerprint.toString("hex"),
          cachedRuns,
          writtenAt: new Date().toISOString(),
        };
        const text = JSON.stringify({ header, checksum: checksum(header) });
        if (Buffer.byteLength(text) >= HEADER_BYTES) throw new Error("digest cache header too long");
        const head = Buffer.alloc(HEADER_BYTES, " ");
        head.write(text);
        head[HEADER_BYTES - 1] = 0x0a;
        await handle.write(head, 0, HEADER_BYTES, 0);
        await handle.sync();
        await handle.close();
        await rename(tmp, path);
        const d = await open(dir, constants.O_RDONLY);
        await d.sync().finally(() => d.close());
      },
      async abort() {
        await handle.close().catch(() => {});
        await rm(tmp, { force: true });
      },
    };
  }
}

/** Temporary files of runs that died before renaming theirs into place. */
async function removeLeftovers(dir: string, name: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(`.${name}.`) && entry.endsWith(".tmp")) await rm(join(dir, entry), { force: true });
  }
}

async function readExactly(handle: FileHandle, into: Buffer, length: number, position: number): Promise<void> {
  const { bytesRead } = await handle.read(into, 0, length, position);
  if (bytesRead !== length) throw new Error(`short read at byte ${position}`);
}
