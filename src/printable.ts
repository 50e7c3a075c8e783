/**
 * The one way a string that came from a peer or a user (a path, a target
 * name, a source id, a peer's error message) reaches a log line or a
 * terminal: control characters, C1 controls and bidirectional overrides are
 * escaped, so such a string can neither forge a line nor move the cursor,
 * recolour the terminal or reorder what is shown around it.
 */

// C0 controls, DEL, C1 controls (U+0080-U+009F: one of them, CSI, starts escape sequences on
// some terminals), the bidi embeddings, overrides and isolates, line and paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `s` with every character that could act on a terminal or a log escaped (a backslash too, so the escape is unambiguous). */
export function printable(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(UNSAFE, escapeOne);
}

/** `printable(s)` in double quotes (a double quote inside escaped): for names inside a sentence. */
export function quoted(s: string | Buffer): string {
  const text = typeof s === "string" ? s : s.toString("utf8");
  return `"${printable(text).replace(/"/g, '\\"')}"`;
}

// What JSON.stringify leaves as it is but a terminal may act on: DEL, C1 controls, separators, bidi controls.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON.stringify(value), with the characters it leaves raw that a terminal acts on written as \u escapes (the same JSON value). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
