/**
 * Test images for the benchmarks, generated once and kept in bench/out (a
 * marker file records how each was made). Zeros are written as zeros, not
 * holes, as on a block device.
 */
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { compressibleBytes, seededBytes, seededInts } from "../../test/helpers/random.js";

/** "mixed": the zero runs of "half-zero", the rest 2:1 compressible (a volume with free space and text-like data). */
export type ImageKind = "random" | "half-zero" | "compressible" | "mixed";

const CHUNK = 64 * 1024 * 1024;
const ZERO_RUN = 1024 * 1024;

function chunk(kind: ImageKind, index: number, length: number): Buffer {
  if (kind === "compressible") return compressibleBytes(length, 1000 + index);
  const bytes = kind === "mixed" ? compressibleBytes(length, 1000 + index) : seededBytes(length, 2000 + index);
  if (kind === "half-zero" || kind === "mixed") {
    // Every 1 MiB is zero or data with even odds: free space comes in runs.
    const pick = seededInts(3000 + index);
    for (let at = 0; at < length; at += ZERO_RUN) if (pick(2) === 0) bytes.fill(0, at, at + ZERO_RUN);
  }
  return bytes;
}

export function image(dir: string, kind: ImageKind, bytes: number): string {
  const path = join(dir, `${kind}-${bytes}.img`);
  const marker = `${path}.made`;
  const recipe = `v1 ${kind} ${bytes}`;
  if (existsSync(marker) && readFileSync(marker, "utf8") === recipe) return path;
  const fd = openSync(path, "w");
  for (let i = 0; i * CHUNK < bytes; i++) writeSync(fd, chunk(kind, i, Math.min(CHUNK, bytes - i * CHUNK)));
  closeSync(fd);
  writeFileSync(marker, recipe);
  return path;
}
