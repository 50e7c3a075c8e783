/**
 * What this build is: the package's version, and the commit dist/ was built
 * from (dist/build-info.json, written by scripts/build-info.mjs at build
 * time; "unknown" when run from the sources).
 */
import { readFileSync } from "node:fs";

function readJson(relative: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

// src/ and dist/ sit at the same depth below the package root.
export const version = String(readJson("../package.json").version ?? "unknown");
export const commit = String(readJson("../dist/build-info.json").commit ?? "unknown");
