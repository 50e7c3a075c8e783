/**
 * Runs a system tool (lvs, lvcreate, ...): no shell, so names from the user
 * are never interpreted; the C locale, so its messages are the ones we quote
 * and parse; a time limit, so a hung tool cannot hang the job; stdin closed,
 * so a prompt reads end-of-file instead of waiting. The environment (PATH) is
 * read at each call.
 */
import { type ExecFileOptionsWithStringEncoding, execFile } from "node:child_process";
import { BlockferryError, type ErrorCode } from "../errors.js";

export interface ToolOptions {
  /** The distribution package that provides the tool, named when it is missing. */
  pkg: string;
  /** The code of a failure: a non-zero exit or a timeout. */
  code: ErrorCode;
  timeoutMs: number;
  /** Gets each command line before it runs. */
  log: (line: string) => void;
  /** Variables added to the environment. */
  env?: Record<string, string>;
}

/** A tool that ran and failed: its exit code (undefined when it was killed) and what it wrote to stderr. */
export class ToolError extends BlockferryError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(code, message);
  }
}

const MAX_OUTPUT = 16 * 1024 * 1024;

/** Resolves to the tool's stdout; throws ToolError on failure, E_UNSUPPORTED when the tool is not installed. */
export function runTool(file: string, args: string[], o: ToolOptions): Promise<string> {
  const commandLine = [file, ...args].map(quote).join(" ");
  o.log(`$ ${commandLine}`);
  return new Promise((resolve, reject) => {
    // execFile passes `detached` on to spawn; its option type does not list it.
    const options: ExecFileOptionsWithStringEncoding & { detached: boolean } = {
      env: { ...process.env, ...o.env, LC_ALL: "C" },
      timeout: o.timeoutMs,
      maxBuffer: MAX_OUTPUT,
      encoding: "utf8",
      // Its own process group: a Ctrl-C on the terminal reaches blockferry, which
      // cleans up, and never cuts an lvcreate or lvremove short.
      detached: true,
    };
    const child = execFile(file, args, options, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout);
      const failure = error as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null };
      if (failure.code === "ENOENT") {
        return reject(
          new BlockferryError("E_UNSUPPORTED", `${file} not found: install the ${o.pkg} package`, { cause: error }),
        );
      }
      const said = oneLine(stderr);
      if (typeof failure.code === "string") {
        return reject(new ToolError(o.code, `${file} failed: ${failure.message}`, undefined, said));
      }
      if (failure.killed) {
        const seconds = o.timeoutMs / 1000;
        return reject(
          new ToolError(o.code, `${file} did not finish within ${seconds} s: ${commandLine}`, undefined, said),
        );
      }
      const exitCode = typeof failure.code === "number" ? failure.code : undefined;
      const how = exitCode !== undefined ? `exit code ${exitCode}` : `signal ${failure.signal ?? "unknown"}`;
      reject(new ToolError(o.code, `${file} failed with ${how}${said === "" ? "" : `: ${said}`}`, exitCode, said));
    });
    child.stdin?.end();
  });
}

/** LVM indents each message line: one line for an error message. */
function oneLine(text: string): string {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join("; ");
}

function quote(word: string): string {
  return /^[\w./:%=+,@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
