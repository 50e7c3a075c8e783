/**
 * The shape of src/, checked in CI: no import cycle, no import that goes up
 * the layers, no file over 400 lines and no function over 80. The layers, top
 * to bottom (an upper one may import a lower one, never the reverse); files
 * directly in src/ (errors, units, validate, printable) are below them all.
 *
 *   npx tsx scripts/check-imports.ts
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const LAYERS = ["cli", "benchmark", "job", "engine", "dirsync", "protocol", "transport", "host", "native"];
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

const root = resolve(import.meta.dirname, "..", "src");
const files = walk(root).filter((f) => f.endsWith(".ts"));
const problems: string[] = [];
const graph = new Map<string, string[]>();

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** A layer's rank: 0 for the top; files directly in src/ rank below every layer. */
function rank(file: string): number {
  const top = relative(root, file).split("/")[0] ?? "";
  const at = LAYERS.indexOf(top);
  return at >= 0 ? at : LAYERS.length;
}

for (const file of files) {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines = text.split("\n").length;
  const name = relative(root, file);
  if (lines > MAX_FILE_LINES) problems.push(`${name}: ${lines} lines (at most ${MAX_FILE_LINES})`);
  const imports: string[] = [];
  for (const s of source.statements) {
    if (!ts.isImportDeclaration(s) && !ts.isExportDeclaration(s)) continue;
    const spec = s.moduleSpecifier;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith(".")) continue;
    // Type-only imports count too: they vanish at run time, but a cycle through them is still a tangle.
    const target = resolve(dirname(file), spec.text.replace(/\.js$/, ".ts"));
    if (rank(target) < rank(file)) problems.push(`${name}: imports ${relative(root, target)}, a layer above it`);
    imports.push(target);
  }
  graph.set(file, imports);
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const from = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const to = source.getLineAndCharacterOfPosition(node.end).line;
      if (to - from + 1 > MAX_FUNCTION_LINES) {
        problems.push(`${name}:${from + 1}: a function of ${to - from + 1} lines (at most ${MAX_FUNCTION_LINES})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

// Cycles: depth-first search, reporting each cycle once by its members.
const state = new Map<string, "open" | "done">();
const seen = new Set<string>();
function search(file: string, path: string[]): void {
  state.set(file, "open");
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === "open") {
      const cycle = [...path.slice(path.indexOf(next)), next].map((f) => relative(root, f));
      const key = [...new Set(cycle)].sort().join(" ");
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(`import cycle: ${cycle.join(" -> ")}`);
      }
    } else if (state.get(next) === undefined && graph.has(next)) {
      search(next, [...path, next]);
    }
  }
  state.set(file, "done");
}
for (const file of files) if (state.get(file) === undefined) search(file, [file]);

if (problems.length > 0) {
  console.error(`src/ does not keep its shape:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  process.exit(1);
}
console.log(
  `src/ keeps its shape: ${files.length} files, no cycle, no upward import, files and functions within bounds`,
);
