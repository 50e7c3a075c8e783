/**
 * A small file replaced whole: written beside it and renamed over it, so a
 * reader sees the old contents or the new, never half; the temporary file is
 * gone afterwards whatever happened. (State files, which must survive a power
 * cut, add fsyncs: src/job/state-file.ts.)
 */
import { rename, rm, writeFile } from "node:fs/promises";

export async function replaceFile(path: string, text: string, mode: number, temp = `${path}.${process.pid}.tmp`) {
  try {
    await writeFile(temp, text, { mode });
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}
