/**
 * What this build is: the package's version, and the commit dist/ was built
 * from (dist/build-info.json, written by scripts/build-info.mjs at build
 * time; "unknown" when run from the sources).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./package-root.js";

function readJson(relative: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(join(packageRoot, relative), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export const version = String(readJson("package.json").version ?? "unknown");
export const commit = String(readJson("dist/build-info.json").commit ?? "unknown");
