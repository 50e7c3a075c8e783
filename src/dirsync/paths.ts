/** Paths as raw bytes: Linux names need not be UTF-8, and a string would re-encode them. */
const SLASH = Buffer.from("/");

export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 0) return name;
  return dir.at(-1) === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, SLASH, name]);
}
