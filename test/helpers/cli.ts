import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { generateHostKey } from "../../src/transport/keys.js";
import { collectOutput } from "./output.js";

const root = join(import.meta.dirname, "..", "..");
/** Digest caches of the syncs this test file runs: never the system's. */
const cacheDir = mkdtempSync(join(tmpdir(), "blockferry-test-cache-"));
/** State files of block-device targets, and records of sources: never the system's. */
const stateDir = mkdtempSync(join(tmpdir(), "blockferry-test-state-"));
/**
 * One host key for the sources and receivers of this test file (as on a host
 * that is both): receivers allow it for every target, and startServer pins
 * each receiver in its known_hosts, so syncs run over TLS with no flags.
 */
export const keyDir = mkdtempSync(join(tmpdir(), "blockferry-test-keys-"));
export const hostKey = await generateHostKey(keyDir, "test", false);
writeFileSync(join(keyDir, "allowed_sources"), `${hostKey.fingerprint} *\n`);
// Registered on the importing test file (vitest workers never emit "exit").
afterAll(() => {
  rmSync(cacheDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(keyDir, { recursive: true, force: true });
});

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `blockferry ARGS` (from the TypeScript sources) as a child process; `ns`: inside that network namespace. */
export function start(
  args: string[],
  env: Record<string, string> = {},
  ns?: string,
): ChildProcess & { output: () => Promise<Run> } {
  const command = [process.execPath, "--import", "tsx", join(root, "src/cli/main.ts"), ...args];
  // `ip netns exec` execs the command: the child's pid is blockferry's own.
  const [file, ...rest] = ns === undefined ? command : ["ip", "netns", "exec", ns, ...command];
  const child = spawn(file as string, rest, {
    cwd: root,
    env: {
      ...process.env,
      BLOCKFERRY_CACHE_DIR: cacheDir,
      BLOCKFERRY_KEY_DIR: keyDir,
      BLOCKFERRY_STATE_DIR: stateDir,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = collectOutput(child);
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return Object.assign(child, {
    output: async () => {
      const [code, signal] = await exited;
      return { code, signal, stdout: out.stdout(), stderr: out.stderr() };
    },
  });
}

export async function run(args: string[], env: Record<string, string> = {}, ns?: string): Promise<Run> {
  return start(args, env, ns).output();
}

/** Starts `blockferry serve` on a free port (of loopback, or of `at.host` in namespace `at.ns`); resolves once it listens. */
export async function startServer(
  args: string[],
  at: { ns: string; host: string; port?: number } | undefined = undefined,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; port: number; log: () => string }> {
  const host = at?.host ?? "127.0.0.1";
  const child = start(["serve", "--listen", `${host}:${at?.port ?? 0}`, ...args], env, at?.ns);
  let log = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /listening on [^\s]+:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${log}`)));
  });
  appendFileSync(join(keyDir, "known_hosts"), `${host}:${port} ${hostKey.fingerprint}\n`);
  return { child, port, log: () => log };
}

/** A list of the file's servers, each killed (SIGKILL) once its tests are done. */
export function serversKilledAfterAll(): Array<{ child: ChildProcess }> {
  const servers: Array<{ child: ChildProcess }> = [];
  afterAll(() => {
    for (const s of servers) s.child.kill("SIGKILL");
  });
  return servers;
}
