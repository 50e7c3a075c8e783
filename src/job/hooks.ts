/**
 * --pre-snapshot and --post-snapshot: the user's shell commands around the
 * snapshot (stop a service, fsfreeze). Each runs in a process group of its
 * own, so that on a timeout, an abort, or when it exits leaving children
 * behind (`daemon &`), the whole group is stopped: a hook never outlives its
 * run, and never holds the job past its time limit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { BlockferryError } from "../errors.js";

export type HookName = "pre-snapshot" | "post-snapshot";

export interface HookOptions {
  timeoutMs: number;
  /** Added to the environment (BLOCKFERRY_HOOK is set to the hook's name). */
  env: Record<string, string>;
  /** Gets each line the command writes, prefixed with the hook's name. */
  log: (line: string) => void;
  /** Aborting stops the command (SIGINT/SIGTERM of blockferry: the group does not get the terminal's). */
  signal?: AbortSignal | undefined;
}

/** After SIGTERM, the group's time to exit before SIGKILL. */
const KILL_GRACE_MS = 5000;
const POLL_MS = 50;
/** A line without a newline is cut here: a hook writing binary must not grow memory. */
const MAX_LINE = 4096;

export async function runHook(name: HookName, command: string, o: HookOptions): Promise<void> {
  const what = `--${name} command`;
  if (o.signal?.aborted) throw interrupted(what, command);
  const child = spawn("/bin/sh", ["-c", command], {
    detached: true, // its own process group, whose id is its pid
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...o.env, BLOCKFERRY_HOOK: name },
  });
  const outputDone = Promise.all(
    [child.stdout, child.stderr].map((s) => forwardLines(s, (l) => o.log(`${name}: ${l}`))),
  );
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  exited.catch(() => {}); // a failed spawn is reported by the "spawn" wait below
  try {
    await once(child, "spawn");
  } catch (e) {
    throw new BlockferryError("E_HOOK", `${what} could not start: ${(e as Error).message}: ${command}`, { cause: e });
  }
  const pgid = child.pid as number;

  let timedOut = false;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= stopGroup(pgid);
    return stopping;
  };
  const timer = setTimeout(() => {
    timedOut = true;
    void stop();
  }, o.timeoutMs);
  const onAbort = () => void stop();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const [code, signal] = await exited;
    if (stopping === undefined && groupRuns(pgid)) o.log(`${name}: stopping the processes the command left running`);
    await stop();
    await Promise.race([outputDone, sleep(1000, undefined, { ref: false })]);
    closeOutput(child);
    if (timedOut) {
      throw new BlockferryError(
        "E_HOOK",
        `${what} did not finish within ${o.timeoutMs / 1000} s and was killed: ${command}`,
      );
    }
    if (o.signal?.aborted) throw interrupted(what, command);
    if (code !== 0) {
      const how = signal !== null ? `was killed by ${signal}` : `failed with exit code ${code}`;
      throw new BlockferryError("E_HOOK", `${what} ${how}: ${command}`);
    }
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", onAbort);
  }
}

function interrupted(what: string, command: string): BlockferryError {
  return new BlockferryError("E_INTERRUPTED", `interrupted: ${what} stopped: ${command}`);
}

/** SIGTERM to the group, SIGKILL to what is left after the grace period; resolves when none of it runs. */
async function stopGroup(pgid: number): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return;
  if (await waitForGroup(pgid, KILL_GRACE_MS)) return;
  signalGroup(pgid, "SIGKILL");
  await waitForGroup(pgid, KILL_GRACE_MS);
}

/** False when no process is left in the group. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

async function waitForGroup(pgid: number, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += POLL_MS) {
    if (!groupRuns(pgid)) return true;
    await sleep(POLL_MS);
  }
  return !groupRuns(pgid);
}

/**
 * Whether a process of the group still runs. Not kill(-pgid, 0): orphans the
 * hook left are reparented to pid 1, and where pid 1 does not reap (some
 * containers) their zombies would count as running forever.
 */
function groupRuns(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return signalGroupProbe(pgid);
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function signalGroupProbe(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Calls `line` for each line of `stream`; resolves at its end. */
async function forwardLines(stream: Readable, line: (text: string) => void): Promise<void> {
  let pending = "";
  stream.setEncoding("utf8");
  try {
    for await (const chunk of stream) {
      pending += chunk as string;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) line(l);
      while (pending.length > MAX_LINE) {
        line(pending.slice(0, MAX_LINE));
        pending = pending.slice(MAX_LINE);
      }
    }
  } catch {
    // destroyed by closeOutput: what was read is forwarded below
  }
  if (pending !== "") line(pending);
}

/** A process that escaped the group (setsid) may still hold the pipes: stop reading them. */
function closeOutput(child: ChildProcess): void {
  child.stdout?.destroy();
  child.stderr?.destroy();
}
