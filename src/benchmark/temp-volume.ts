/**
 * `blockferry bench` without a VOLUME measures a temporary file of random
 * bytes: this machine's disk and CPU on the worst data for a copy (no zero
 * blocks, nothing for lz4). It is synced before it is read, and removed after.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { fromFsError } from "../errors.js";

/** Largest temporary file: enough for a few seconds of reads on a fast disk. */
export const TEMP_VOLUME_BYTES = 256 * 1024 * 1024;
const PIECE = 4 * 1024 * 1024;

export interface TempVolume {
  path: string;
  size: number;
  remove: () => Promise<void>;
}

/** Writes up to TEMP_VOLUME_BYTES of random bytes in `dir`, stopping early at `deadline` (performance.now()). */
export async function makeTempVolume(dir: string, deadline: number): Promise<TempVolume> {
  let folder: string;
  try {
    folder = await mkdtemp(join(dir, "blockferry-bench-"));
  } catch (e) {
    throw fromFsError(e, `--tmp-dir ${dir}`);
  }
  const path = join(folder, "volume.img");
  // Ctrl-C during the measurement must not leave hundreds of megabytes behind.
  const onSignal = () => {
    rmSync(folder, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const remove = async () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await rm(folder, { recursive: true, force: true });
  };
  try {
    const file = await open(path, "w");
    let size = 0;
    try {
      // At least one piece, whatever the deadline: a sample needs something to read.
      do {
        await file.write(randomBytes(PIECE));
        size += PIECE;
      } while (size < TEMP_VOLUME_BYTES && performance.now() < deadline);
      await file.sync();
    } finally {
      await file.close();
    }
    return { path, size, remove };
  } catch (e) {
    await remove();
    throw fromFsError(e, `writing a temporary file in ${dir}`);
  }
}
