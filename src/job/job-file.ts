/**
 * Job files: TOML, as admins of nightly jobs write them (comments, no
 * indentation traps, typed values; the format of systemd-era tools and of
 * Cargo, and one that a typo cannot silently turn into another type). One
 * [job.NAME] table per job, an optional [defaults] table for keys every job
 * shares. A job's keys are the long options of `blockferry sync`, plus
 * `source` and `destination`; anything else is refused, with its line.
 */
import { readFile } from "node:fs/promises";
import { parse, TomlError } from "smol-toml";
import { BlockferryError } from "../errors.js";

/** One setting a job may hold: a `sync` option. */
export interface Setting {
  key: string;
  kind: "flag" | "value" | "list";
}

export interface Job {
  name: string;
  source: string;
  destination: string;
  /** The job's settings, by key (flags true/false, values and lists as strings). */
  settings: Map<string, boolean | string | string[]>;
  /** Where each key was set (its job's table, or [defaults]): errors found later name the line. */
  lines: Map<string, number>;
}

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_FILE_BYTES = 1024 * 1024;

export async function readJobFile(path: string, catalogue: Setting[]): Promise<Job[]> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new BlockferryError(e.code === "ENOENT" ? "E_NOT_FOUND" : "E_CONFIG", `job file ${path}: ${e.message}`);
  });
  if (text.length > MAX_FILE_BYTES) throw configError(path, undefined, `is over ${MAX_FILE_BYTES} bytes`);
  return parseJobs(path, text, catalogue);
}

export function parseJobs(path: string, text: string, catalogue: Setting[]): Job[] {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      throw configError(path, e.line, `not valid TOML: ${e.message.split("\n")[0]} (column ${e.column})`);
    }
    throw e;
  }
  const where = locator(text);
  for (const key of Object.keys(doc)) {
    if (key !== "job" && key !== "defaults") {
      throw configError(path, where(key), `unknown table or key "${key}"; expected [defaults] and [job.NAME] tables`);
    }
  }
  const defaults = table(doc.defaults, "defaults", path, where);
  const jobs = table(doc.job, "job", path, where);
  if (Object.keys(jobs).length === 0) throw configError(path, undefined, "holds no [job.NAME] table");
  const known = new Map(catalogue.map((s) => [s.key, s]));
  const defaultSettings = settingsOf(defaults, "[defaults]", "defaults", known, path, where, false);
  return Object.entries(jobs).map(([name, value]) => {
    const section = `job.${name}`;
    if (!JOB_NAME.test(name)) {
      throw configError(path, where(section), `job name "${name}": expected letters, digits, '.', '_' or '-'`);
    }
    const own = table(value, section, path, where);
    const settings = settingsOf(own, `job "${name}"`, section, known, path, where, true);
    const merged = new Map([...defaultSettings, ...settings]);
    const lines = new Map<string, number>();
    for (const key of merged.keys()) {
      const line = key in own ? where(section, key) : where("defaults", key);
      if (line !== undefined) lines.set(key, line);
    }
    const source = merged.get("source");
    const destination = merged.get("destination");
    merged.delete("source");
    merged.delete("destination");
    for (const [key, v] of [
      ["source", source],
      ["destination", destination],
    ] as const) {
      if (typeof v !== "string" || v === "") {
        throw configError(path, where(section), `job "${name}": "${key}" is missing; expected a path or address`);
      }
    }
    return { name, source: source as string, destination: destination as string, settings: merged, lines };
  });
}

function settingsOf(
  t: Record<string, unknown>,
  what: string,
  section: string,
  known: Map<string, Setting>,
  path: string,
  where: (section: string, key?: string) => number | undefined,
  isJob: boolean,
): Map<string, boolean | string | string[]> {
  const out = new Map<string, boolean | string | string[]>();
  for (const [key, value] of Object.entries(t)) {
    const line = where(section, key);
    const fail = (expected: string) =>
      configError(path, line, `${what}: "${key}" ${expected}, got ${JSON.stringify(value)}`);
    if (key === "source" || key === "destination") {
      if (typeof value !== "string") throw fail("expects a string");
      out.set(key, value);
      continue;
    }
    const setting = known.get(key);
    if (setting === undefined) {
      const hint = closest(key, [...known.keys(), "source", "destination"]);
      throw configError(path, line, `${what}: unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ""}`);
    }
    if (setting.kind === "flag") {
      if (typeof value !== "boolean") throw fail("expects true or false");
      out.set(key, value);
    } else if (setting.kind === "list") {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((v) => typeof v === "string")) throw fail("expects a string or a list of strings");
      out.set(key, list as string[]);
    } else {
      if (typeof value !== "string" && typeof value !== "number") throw fail("expects a string or a number");
      out.set(key, String(value));
    }
  }
  if (!isJob && (out.has("source") || out.has("destination"))) {
    throw configError(path, where(section), `${what}: "source" and "destination" belong in each [job.NAME]`);
  }
  return out;
}

function table(
  v: unknown,
  section: string,
  path: string,
  where: (section: string) => number | undefined,
): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Date) {
    throw configError(path, where(section), `"${section}" must be a table ([${section}])`);
  }
  return v as Record<string, unknown>;
}

/**
 * The line of a table's header, or of a key inside it (1-based), found in the
 * text; TOML parsers give values without positions. Lines inside multi-line
 * strings are skipped and comments ignored. Undefined when not found (dotted
 * keys, inline tables): the message then names the key alone.
 */
function locator(text: string): (section: string, key?: string) => number | undefined {
  const lines = codeLines(text);
  const headerOf = (l: string) => /^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$/.exec(l)?.[1]?.replace(/["'\s]/g, "");
  // The table's own header, else the first of its sub-tables ([jobs.a] for "jobs").
  const header = (section: string) => {
    const exact = lines.findIndex((l) => headerOf(l) === section);
    return exact >= 0 ? exact : lines.findIndex((l) => headerOf(l)?.startsWith(`${section}.`));
  };
  return (section, key) => {
    const at = header(section);
    if (key === undefined) {
      if (at >= 0) return at + 1;
      const top = lines.findIndex((l) => new RegExp(`^\\s*${escapeRegExp(section)}\\s*[=.]`).test(l));
      return top >= 0 ? top + 1 : undefined;
    }
    if (at < 0) return undefined;
    for (let i = at + 1; i < lines.length && headerOf(lines[i] ?? "") === undefined; i++) {
      if (new RegExp(`^\\s*["']?${escapeRegExp(key)}["']?\\s*=`).test(lines[i] ?? "")) return i + 1;
    }
    return at + 1;
  };
}

/** The file's lines, with those inside multi-line strings blanked (they can look like headers or keys). */
function codeLines(text: string): string[] {
  let open: string | undefined;
  return text.split("\n").map((line) => {
    const inString = open !== undefined;
    for (const m of line.matchAll(/"""|'''/g)) {
      if (open === undefined) open = m[0];
      else if (open === m[0]) open = undefined;
    }
    return inString ? "" : line;
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function configError(path: string, line: number | undefined, message: string): BlockferryError {
  return new BlockferryError("E_CONFIG", `${path}${line === undefined ? "" : `:${line}`}: ${message}`);
}

/** The known key nearest to a misspelt one (edit distance at most 2). */
function closest(key: string, keys: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of keys) {
    const d = distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        (row[j] ?? 0) + 1,
        (next[j - 1] ?? 0) + 1,
        (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length] ?? 0;
}
