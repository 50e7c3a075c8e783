/** LVM's command-line tools, run with the options every caller needs (lvm.ts, thin-base.ts). */
import { BlockferryError } from "../errors.js";
import { describe } from "../validate.js";
import { runTool, ToolError } from "./run-tool.js";

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

/**
 * lvremove -f FULL, tried again after each of `delaysMs` while it fails: just
 * after we close an LV, udev or blkid may still hold it ("in use"). After a
 * failure `stillThere()` is asked: false (removed meanwhile, by hand) ends it
 * as done; it throws where the LV is no longer one to remove.
 */
export async function lvremoveRetried(
  full: string,
  delaysMs: readonly number[],
  log: (line: string) => void,
  stillThere: () => Promise<boolean>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await lvm("lvremove", ["-f", full], log);
      return;
    } catch (e) {
      if (!(e instanceof ToolError)) throw e;
      if (!(await stillThere())) return;
      const delay = delaysMs[attempt];
      if (delay === undefined) throw e;
      log(`lvremove failed (${e.message}); trying again in ${delay / 1000} s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
