import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A scratch directory removed by the returned function. Not tmpfs: O_DIRECT must work there. */
export function scratchDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(process.env.BLOCKFERRY_TEST_DIR ?? tmpdir(), "blockferry-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** 512-byte units the filesystem allocated to a file (less than its size when sparse). */
export function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}
