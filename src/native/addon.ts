/**
 * Loads the compiled addon and describes its raw surface. Only src/native
 * imports this module; the rest of blockferry uses the checked wrappers.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    blockSize: number,
    zero: Uint8Array | null,
  ): Promise<RawWriteResult>;
  zeroRange(offset: number, length: number): Promise<RawZeroMethod>;
  setSize(size: number): Promise<void>;
  sync(): Promise<void>;
  dataExtents(offset: number, length: number, maxExtents: number): Promise<{ extents: number[]; searchedTo: number }>;
  close(): Promise<void>;
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
    fold: [blockSize: number, seed: bigint, firstBlock: number] | null,
  ): Promise<{ sum: Buffer; zero: Buffer } | undefined>;
  foldDigests(
    acc: Uint8Array,
    digests: Uint8Array,
    count: number,
    firstBlock: number,
    seed: bigint,
    repeat: boolean,
  ): Promise<Buffer>;
}

/** The facts a native failure carries (see native/addon/errors.h). */
export interface RawNativeError extends Error {
  kind: "system" | "corrupt" | "range" | "invalid" | "closed";
  errno?: number;
  op?: string;
  offset?: number;
}

// src/native and dist/native sit at the same depth below the package root.
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** BLOCKFERRY_ADDON names another build (CI loads the node-gyp one this way). */
export function addonPath(): string {
  return process.env.BLOCKFERRY_ADDON ?? join(packageRoot, "build", "Release", "blockferry.node");
}

function load(): Addon {
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(
      `blockferry: native addon not found at ${path}; build it with "npm run build:native" (needs cmake, a C++ compiler, liblz4-dev and libxxhash-dev)`,
    );
  }
  return createRequire(import.meta.url)(path) as Addon;
}

export const addon: Addon = load();
