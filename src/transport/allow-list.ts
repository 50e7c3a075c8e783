/**
 * Which source keys a receiver accepts, and which of its targets each may
 * write: `--allow FINGERPRINT=NAME[,NAME...]` on the command line, or the
 * same as lines "FINGERPRINT NAME[,NAME...]" in a file ("#" starts a comment;
 * "*" for every target of this receiver).
 */
import { readFile } from "node:fs/promises";
import { BlockferryError, fromFsError } from "../errors.js";
import { invalid } from "../validate.js";
import { FINGERPRINT } from "./keys.js";

/** Fingerprint → the target names that key may write ("*": all). */
export type Authorized = Map<string, Set<string>>;

export function parseAllow(spec: string, where = "--allow"): [string, Set<string>] {
  const m = /^(\S+?)[=\s]+(\S+)$/.exec(spec.trim());
  const names = m?.[2]?.split(",") ?? [];
  if (!m || !FINGERPRINT.test(m[1] as string) || names.some((n) => !/^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/.test(n))) {
    throw invalid(
      where,
      "sha256:<43 base64 characters>=NAME[,NAME...] (a key fingerprint and the targets it may write)",
      spec,
    );
  }
  return [m[1] as string, new Set(names)];
}

export async function readAllowFile(file: string): Promise<Authorized> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw fromFsError(e, `cannot read ${file}`);
  }
  const out: Authorized = new Map();
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const [key, names] = parseAllow(line, `${file} line ${i + 1}`);
    out.set(key, new Set([...(out.get(key) ?? []), ...names]));
  });
  return out;
}

/** Throws unless `fingerprint` may write target `name`. */
export function checkAllowed(authorized: Authorized, fingerprint: string, name: string): void {
  const names = authorized.get(fingerprint);
  if (names === undefined) throw new BlockferryError("E_AUTH", `key ${fingerprint} is not allowed here`);
  if (!names.has("*") && !names.has(name)) {
    throw new BlockferryError("E_AUTH", `key ${fingerprint} may not write target "${name}"`);
  }
}
