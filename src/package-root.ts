/**
 * The package's root directory: the nearest directory above this module with
 * blockferry's package.json. Found, not assumed: the module may run from
 * src/ (tsx), dist/ (tsc's output) or inside dist/cli/main.js (the bundle
 * the CLI runs), each at another depth.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function isOurs(dir: string): boolean {
  const file = join(dir, "package.json");
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { name?: unknown }).name === "blockferry";
  } catch {
    return false;
  }
}

/** The root above `here`: the nearest directory with blockferry's package.json, else the one above dist/ or src/. */
export function packageRootFrom(here: string): string {
  for (let dir = here; ; dir = dirname(dir)) {
    if (isOurs(dir)) return dir;
    if (dirname(dir) === dir) return aboveDistOrSrc(here);
  }
}

/** Without a package.json (a copied tree): the directory that holds dist/ or src/. */
function aboveDistOrSrc(here: string): string {
  for (let dir = here; dirname(dir) !== dir; dir = dirname(dir)) {
    if (basename(dir) === "dist" || basename(dir) === "src") return dirname(dir);
  }
  return join(here, "..");
}

export const packageRoot = packageRootFrom(dirname(fileURLToPath(import.meta.url)));
