/** bench/RESULTS.md: each benchmark owns a section between <!-- NAME:begin --> and <!-- NAME:end -->. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** BLOCKFERRY_BENCH_RESULTS names another file instead, for trial runs that must not touch the real results. */
const resultsPath = process.env.BLOCKFERRY_BENCH_RESULTS ?? join(import.meta.dirname, "..", "RESULTS.md");

/** Replaces the section `name` with `body` (markers added here), or appends it under `heading`. */
export function writeSection(name: string, heading: string, body: string): void {
  const [begin, end] = [`<!-- ${name}:begin -->`, `<!-- ${name}:end -->`];
  const section = `${begin}\n${body}\n${end}`;
  const results = readFileSync(resultsPath, "utf8");
  writeFileSync(
    resultsPath,
    results.includes(begin)
      ? results.replace(new RegExp(`${begin}[\\s\\S]*${end}`), () => section)
      : `${results}\n## ${heading}\n\n${section}\n`,
  );
}
