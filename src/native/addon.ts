/**
 * Loads the compiled addon and describes its raw surface. Only src/native
 * imports this module; the rest of blockferry uses the checked wrappers.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../package-root.js";
import { AddonLoadError } from "./addon-error.js";

export interface RawVolumeInfo {
  /** Bytes. */
  size: number;
  /** Logical sector size of a block device; 512 for an image file. */
  sectorSize: number;
  /** Alignment O_DIRECT needs of offsets, lengths and memory. */
  alignment: number;
  isBlockDevice: boolean;
  writable: boolean;
  /** O_DIRECT in use: false when the filesystem refused it, or when asked not to. */
  direct: boolean;
}

export interface RawReadResult {
  direct: boolean;
  readSeconds: number;
  hashSeconds: number;
  digests: Buffer | undefined;
  zero: Buffer | undefined;
}

export interface RawWriteResult {
  bytesWritten: number;
  bytesZeroed: number;
  direct: boolean;
  zeroMethod: RawZeroMethod;
}

export type RawZeroMethod = "none" | "punch-hole" | "zero-out" | "write";

export interface RawVolume {
  info(): RawVolumeInfo;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    blockSize: number,
    seed: bigint,
    digest: boolean,
  ): Promise<RawReadResult>;
  readSpans(buffer: Uint8Array, spans: number[], blockSize: number, seed: bigint): Promise<RawReadResult>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    blockSize: number,
    zero: Uint8Array | null,
  ): Promise<RawWriteResult>;
  writeSpans(buffer: Uint8Array, spans: number[], blockSize: number, zero: Uint8Array | null): Promise<RawWriteResult>;
  zeroRange(offset: number, length: number): Promise<RawZeroMethod>;
  setSize(size: number): Promise<void>;
  sync(): Promise<void>;
  dataExtents(offset: number, length: number, maxExtents: number): Promise<{ extents: number[]; searchedTo: number }>;
  close(): Promise<void>;
}

export type RawEntryKind = "dir" | "file" | "symlink" | "other";

/** See native/core/dir_at.h. Descriptors are numbers the caller owns; names are single components. */
export interface RawDirAt {
  openPath(path: string): Promise<number>;
  openAt(dir: number, name: Uint8Array): Promise<number>;
  makeDirAt(dir: number, name: Uint8Array, mode: number): Promise<number>;
  createFileAt(dir: number, name: Uint8Array, mode: number): Promise<number>;
  symlinkAt(dir: number, name: Uint8Array, target: Uint8Array): Promise<void>;
  kindAt(dir: number, name: Uint8Array): Promise<RawEntryKind | null>;
  sameEntryAt(dir: number, name: Uint8Array, fd: number): Promise<boolean>;
  chownAt(fd: number, name: Uint8Array | null, uid: number, gid: number): Promise<void>;
  setMtimeAt(fd: number, name: Uint8Array | null, sec: number, nsec: number): Promise<void>;
  /** mode: 0 replace, 1 fail if `to` exists, 2 exchange the two. */
  renameAt(dir: number, from: Uint8Array, to: Uint8Array, mode: 0 | 1 | 2): Promise<void>;
  removeTreeAt(dir: number, name: Uint8Array): Promise<boolean>;
  tryLock(fd: number): Promise<boolean>;
}

export interface Addon {
  openVolume(path: string, write: boolean, create: boolean, direct: boolean): Promise<RawVolume>;
  allocAligned(size: number, alignment: number): Buffer;
  digestBlocks(data: Uint8Array, blockSize: number, seed: bigint): Promise<{ digests: Buffer; zero: Buffer }>;
  compressBlocks(data: Uint8Array, blockSize: number): Promise<{ payload: Buffer; sizes: Uint32Array }>;
  decodeBlocks(
    src: Uint8Array,
    sizes: Uint32Array,
    kinds: Uint8Array,
    dst: Uint8Array,
    blockSize: number,
  ): Promise<void>;
  receiveUnits(
    parts: Uint8Array[],
    sizes: Uint32Array,
    kinds: Uint8Array,
    dst: Uint8Array,
    unit: number,
    offsets: Uint32Array | null,
    fold: [blockSize: number, seed: bigint, firstBlock: number, runs?: number[]] | null,
  ): Promise<{ sum: Buffer; zero: Buffer } | undefined>;
  foldDigests(
    acc: Uint8Array,
    digests: Uint8Array,
    count: number,
    firstBlock: number,
    seed: bigint,
    repeat: boolean,
  ): Promise<Buffer>;
  dirAt: RawDirAt;
  /** Versions of liblz4 and libxxhash as loaded at run time. */
  libraries: { lz4: string; xxhash: string };
}

/** The facts a native failure carries (see native/addon/errors.h). */
export interface RawNativeError extends Error {
  kind: "system" | "corrupt" | "range" | "invalid" | "closed";
  errno?: number;
  op?: string;
  offset?: number;
}

/** BLOCKFERRY_ADDON names another build (CI loads the node-gyp one this way). */
export function addonPath(): string {
  return process.env.BLOCKFERRY_ADDON ?? join(packageRoot, "build", "Release", "blockferry.node");
}

function load(): Addon {
  const path = addonPath();
  if (!existsSync(path)) throw new AddonLoadError(`${path} does not exist`);
  try {
    return createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    // A library it links is missing, or it was built for another platform.
    throw new AddonLoadError(`${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}

export const addon: Addon = load();
