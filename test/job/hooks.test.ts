import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type HookOptions, runHook } from "../../src/job/hooks.js";
import { failure } from "../helpers/failure.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

function options(o: Partial<HookOptions> = {}): HookOptions & { lines: string[] } {
  const lines: string[] = [];
  return { timeoutMs: 10_000, env: {}, log: (line) => lines.push(line), lines, ...o };
}

/** Whether pid runs (a zombie does not: here pid 1 may never reap the orphans). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** A command that starts `sleep 100` in the background and writes its pid to a file; then `rest`. */
function withBackgroundChild(name: string, rest: string): { command: string; child: () => number } {
  const pidFile = join(scratch.dir, `${name}.pid`);
  return {
    command: `sleep 100 & echo $! > ${pidFile}; ${rest}`,
    child: () => Number(readFileSync(pidFile, "utf8")),
  };
}

describe("runHook", () => {
  it("forwards the command's output lines, prefixed with the hook's name, and passes the environment", async () => {
    const o = options({ env: { BLOCKFERRY_SOURCE: "vg0/pool", BLOCKFERRY_HOOK: "not this" } });
    await runHook("pre-snapshot", `echo "out $BLOCKFERRY_HOOK $BLOCKFERRY_SOURCE"; echo err >&2; printf 'last'`, o);
    expect(o.lines.sort()).toEqual([
      "pre-snapshot: err",
      "pre-snapshot: last",
      "pre-snapshot: out pre-snapshot vg0/pool",
    ]);
  });

  it("gives the command no stdin", async () => {
    const o = options({ timeoutMs: 5000 });
    await runHook("post-snapshot", "cat; echo done", o);
    expect(o.lines).toEqual(["post-snapshot: done"]);
  });

  it("fails with the exit code", async () => {
    const e = await failure(runHook("pre-snapshot", "echo stopping; exit 3", options()));
    expect(e.code).toBe("E_HOOK");
    expect(e.message).toBe("--pre-snapshot command failed with exit code 3: echo stopping; exit 3");
  });

  it("fails when a signal kills the command", async () => {
    const e = await failure(runHook("post-snapshot", "kill -9 $$", options()));
    expect(e.code).toBe("E_HOOK");
    expect(e.message).toBe("--post-snapshot command was killed by SIGKILL: kill -9 $$");
  });

  it("on timeout, stops the command's whole process group, a backgrounded child included", async () => {
    const hook = withBackgroundChild("timeout", "sleep 100");
    const started = Date.now();
    const e = await failure(runHook("pre-snapshot", hook.command, options({ timeoutMs: 500 })));
    expect(e.code).toBe("E_HOOK");
    expect(e.message).toBe(`--pre-snapshot command did not finish within 0.5 s and was killed: ${hook.command}`);
    expect(Date.now() - started).toBeLessThan(4000); // SIGTERM was enough
    expect(running(hook.child())).toBe(false);
  });

  it("kills with SIGKILL what ignores SIGTERM, 5 s later", async () => {
    const hook = withBackgroundChild("ignores-term", "sleep 100");
    const started = Date.now();
    const e = await failure(runHook("pre-snapshot", `trap '' TERM; ${hook.command}`, options({ timeoutMs: 300 })));
    expect(e.code).toBe("E_HOOK");
    expect(Date.now() - started).toBeGreaterThanOrEqual(5300);
    expect(running(hook.child())).toBe(false);
  });

  it("stops what a successful command left running", async () => {
    const hook = withBackgroundChild("left", "echo started");
    const o = options();
    await runHook("post-snapshot", hook.command, o);
    expect(o.lines).toEqual([
      "post-snapshot: started",
      "post-snapshot: stopping the processes the command left running",
    ]);
    expect(running(hook.child())).toBe(false);
  });

  it("stops the command when the job is aborted", async () => {
    const hook = withBackgroundChild("abort", "sleep 100");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const e = await failure(runHook("pre-snapshot", hook.command, options({ signal: controller.signal })));
    expect(e.code).toBe("E_INTERRUPTED");
    expect(e.message).toBe(`interrupted: --pre-snapshot command stopped: ${hook.command}`);
    expect(running(hook.child())).toBe(false);
  });
});
