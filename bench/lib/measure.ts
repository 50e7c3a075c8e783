/** Runs commands under GNU time, for wall time, CPU seconds and peak RSS. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import { collectOutput } from "../../test/helpers/output.js";
import { pin } from "./keys.js";

export interface Usage {
  code: number | null;
  cpuSeconds: number;
  maxRssMiB: number;
  stdout: string;
  stderr: string;
}

export interface Measured {
  child: ChildProcess;
  /** Resolves when the process exits. */
  done: Promise<Usage>;
  /** Everything written to stderr so far. */
  stderr(): string;
}

let counter = 0;

/** Starts `args` inside network namespace `ns` under /usr/bin/time. */
export function measured(ns: string, args: string[], env: Record<string, string> = {}): Measured {
  const timeFile = `/tmp/blockferry-bench-${process.pid}-${counter++}.time`;
  const child = spawn("ip", ["netns", "exec", ns, "/usr/bin/time", "-o", timeFile, "-f", "%U %S %M", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const out = collectOutput(child);
  const done = (async () => {
    const [code] = (await once(child, "exit")) as [number | null];
    const [user, sys, rss] = readFileSync(timeFile, "utf8").trim().split(/\s+/).slice(-3).map(Number);
    rmSync(timeFile, { force: true });
    const cpuSeconds = (user ?? 0) + (sys ?? 0);
    return { code, cpuSeconds, maxRssMiB: (rss ?? 0) / 1024, stdout: out.stdout(), stderr: out.stderr() };
  })();
  return { child, done, stderr: out.stderr };
}

/** Waits for a sender and its receiver; a sender that failed takes its receiver down instead of leaving it waiting. */
export async function bothDone(sender: Measured, receiver: Measured): Promise<[Usage, Usage]> {
  const s = await sender.done;
  if (s.code !== 0) receiver.child.kill();
  return [s, await receiver.done];
}

export async function waitForOutput(m: Measured, pattern: RegExp, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (pattern.test(m.stderr())) return;
    if (m.child.exitCode !== null) throw new Error(`${what} exited: ${m.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} did not start: ${m.stderr()}`);
}

/**
 * The baseline, `dd | nc`: starts `nc -l | dd` into `target` in namespace
 * `ns`; returns the receiver and the sender's command line for `source`.
 * With `lz4`, `dd | lz4 | nc`: lz4's fastest level in the sender's pipe, `lz4 -d` in the receiver's.
 */
export async function ddNc(ns: string, ip: string, source: string, target: string, lz4 = false) {
  const port = 7000 + Math.floor(Math.random() * 1000);
  const [pack, unpack] = lz4 ? ["lz4 -1 -c -q | ", "lz4 -d -c -q | "] : ["", ""];
  const receiver = measured(ns, [
    "sh",
    "-c",
    `nc -l ${ip} ${port} | ${unpack}dd of=${target} bs=4M iflag=fullblock conv=fdatasync status=none`,
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const senderArgs = ["sh", "-c", `dd if=${source} bs=1M iflag=direct status=none | ${pack}nc -N ${ip} ${port}`];
  return { receiver, senderArgs };
}

/**
 * Starts `blockferry receive` for target "t" = `target` in namespace `ns` on
 * a random port; resolves once it listens.
 */
export async function startReceiver(
  ns: string,
  cli: string,
  ip: string,
  target: string,
  extra: string[] = [],
): Promise<{ receiver: Measured; port: number }> {
  const port = 7000 + Math.floor(Math.random() * 1000);
  const args = ["receive", "--listen", `${ip}:${port}`, "--target", `t=${target}`, "--create", ...extra];
  const receiver = measured(ns, [process.execPath, cli, ...args]);
  await waitForOutput(receiver, /listening on/, "blockferry receive");
  pin(ip, port);
  return { receiver, port };
}
