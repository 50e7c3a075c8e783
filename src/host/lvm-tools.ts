/** LVM's command-line tools, run with the options every caller needs (lvm.ts, thin-base.ts). */
import { BlockferryError } from "../errors.js";
import { describe } from "../validate.js";
import { runTool } from "./run-tool.js";

/** LVM waits for udev; a wedged udev must not hang the job forever. */
const TOOL_TIMEOUT_MS = 5 * 60_000;
const REPORT = ["--noheadings", "--nosuffix", "--units", "b", "--separator", "|"];

/** Rows of `lvs REPORT -o FIELDS -- TARGET`, one object per LV. */
export async function lvs<F extends string>(
  fields: readonly F[],
  target: string,
  log: (line: string) => void,
): Promise<Record<F, string>[]> {
  const out = await lvm("lvs", [...REPORT, "-o", fields.join(","), "--", target], log);
  return out
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      const values = line.split("|");
      if (values.length !== fields.length) {
        throw new BlockferryError(
          "E_SNAPSHOT",
          `lvs: expected ${fields.length} fields per line, got ${describe(line)}`,
        );
      }
      return Object.fromEntries(fields.map((f, i) => [f, values[i]])) as Record<F, string>;
    });
}

export function lvm(tool: string, args: string[], log: (line: string) => void): Promise<string> {
  // LVM warns about every descriptor it inherits (Node's among them): noise, not a problem.
  const env = { LVM_SUPPRESS_FD_WARNINGS: "1" };
  return runTool(tool, args, { pkg: "lvm2", code: "E_SNAPSHOT", timeoutMs: TOOL_TIMEOUT_MS, log, env });
}
