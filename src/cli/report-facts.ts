/** The facts every JSON report and metrics file carries: when, where, which blockferry, and the exit code. */
import { hostname } from "node:os";
import { version } from "../build-info.js";

/** When, where and by which blockferry a report was made, and the process's exit code for it. */
export function reportFacts(exitCode: number): { timestamp: string; host: string; version: string; exitCode: number } {
  return { timestamp: new Date().toISOString(), host: hostname(), version, exitCode };
}
