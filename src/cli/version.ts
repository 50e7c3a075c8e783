/** blockferry's own version (package.json), and the facts every JSON report and metrics file carries. */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** When, where and by which blockferry a report was made, and the process's exit code for it. */
export function reportFacts(exitCode: number): { timestamp: string; host: string; version: string; exitCode: number } {
  return { timestamp: new Date().toISOString(), host: hostname(), version: VERSION, exitCode };
}
