/**
 * How far a receiver lets a source grow an image target. A source may ask
 * for any size, and one ZERO_RUN then makes the image that large (sparse) at
 * no cost to it.
 */
import { stat, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { BlockferryError } from "../errors.js";
import { formatBytes, parseSize } from "../units.js";
import { invalid } from "../validate.js";

/** --max-image-size NAME=SIZE or SIZE (every target without its own). */
export function parseImageCap(spec: string): [string, number] {
  const at = spec.indexOf("=");
  const name = at < 0 ? "*" : spec.slice(0, at);
  const size = parseSize("--max-image-size", at < 0 ? spec : spec.slice(at + 1));
  if (name === "") throw invalid("--max-image-size", "SIZE or NAME=SIZE", spec);
  return [name, size];
}

/**
 * Up to the target's --max-image-size, or by default the size of the
 * filesystem that holds it: past that the sync is refused before anything is
 * created or written. `caps` undefined: no limit (a local copy, or a receiver
 * started by ssh for the user who runs the source).
 */
export async function checkImageGrowth(
  target: { name: string; path: string },
  sourceSize: number,
  caps: Map<string, number> | undefined,
): Promise<void> {
  if (caps === undefined) return;
  const info = await stat(target.path).catch(() => undefined);
  if (info?.isBlockDevice() || sourceSize <= (info?.size ?? 0)) return;
  const own = caps.get(target.name) ?? caps.get("*");
  const limit = own ?? (await filesystemSize(target.path));
  if (sourceSize <= limit) return;
  const why =
    own === undefined
      ? `the size of the filesystem that holds it (${formatBytes(limit)})`
      : `its --max-image-size ${formatBytes(limit)}`;
  throw new BlockferryError(
    "E_TARGET_TOO_SMALL",
    `target "${target.name}": the source is ${formatBytes(sourceSize)}, more than ${why}; a receiver grows an image only that far (start it with --max-image-size ${target.name}=SIZE to allow more)`,
  );
}

async function filesystemSize(path: string): Promise<number> {
  const fs = await statfs(dirname(path));
  return fs.blocks * fs.bsize;
}
