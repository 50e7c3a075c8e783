/**
 * One measured run over the emulated link: caches dropped, the receiver
 * started, then the sender timed until both sides exited. Link bytes come
 * from the source veth's counters, not from the tool's own report.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import type { Link } from "../../test/helpers/netns.js";
import { dropCaches } from "./host.js";
import { type Measured, measured, type Usage } from "./measure.js";

/** What a tool's starter hands back once its receiver is ready. */
export interface Started {
  receiver: Measured;
  /** The sender's command line, run in the source namespace. */
  args: string[];
  /** Called once the sender exited: stops a daemon that would otherwise serve on. */
  stop?: () => void;
  /** A receiver started by someone else (sshd): its usage, read once both sides are done. */
  receiverUsage?: () => Usage;
}

export type Starter = () => Promise<Started>;

export interface Run {
  seconds: number;
  /** Bytes on the link source→target and target→source. */
  tx: number;
  rx: number;
  sender: Usage;
  receiver: Usage;
}

export async function timedRun(link: Link, what: string, start: Starter): Promise<Run> {
  dropCaches();
  const started = await start();
  const [tx0, rx0] = [link.txBytes(), link.rxBytes()];
  const t0 = performance.now();
  const sender = await measured(link.src, started.args).done;
  // A failed sender takes its receiver down instead of leaving it waiting.
  if (started.stop) started.stop();
  else if (sender.code !== 0) started.receiver.child.kill();
  const measuredReceiver = await started.receiver.done;
  const seconds = (performance.now() - t0) / 1000;
  const receiver = started.receiverUsage?.() ?? measuredReceiver;
  if (sender.code !== 0 || (receiver.code !== 0 && !started.stop))
    throw new Error(`${what} failed: ${sender.stderr} ${receiver.stderr}`);
  return { seconds, tx: link.txBytes() - tx0, rx: link.rxBytes() - rx0, sender, receiver };
}

export function identical(a: string, b: string): boolean {
  try {
    execFileSync("cmp", ["-s", a, b]);
    return true;
  } catch {
    return false;
  }
}

/** A full copy into a fresh `target` (no file, no state left from before); compared with `source` unless told not to. */
export async function freshCopy(
  link: Link,
  what: string,
  source: string,
  target: string,
  start: Starter,
  compare = true,
): Promise<Run & { identical: boolean | undefined }> {
  rmSync(target, { force: true });
  rmSync(`${target}.blockferry-state.json`, { force: true });
  const run = await timedRun(link, what, start);
  return { ...run, identical: compare ? identical(source, target) : undefined };
}

/** The item of median `key` (the upper one of an even count), as every table here reports it. */
export function middle<T>(items: T[], key: (item: T) => number): T | undefined {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)];
}

/** The median of numbers (NaN for none). */
export const median = (xs: number[]): number => middle(xs, (x) => x) ?? Number.NaN;
