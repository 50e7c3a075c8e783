/**
 * `serve` on SIGHUP (systemctl reload): reads its targets file and its allow
 * list again. The new configuration is checked as at start; a bad one is
 * refused with the reason and the old one kept. Connections under way keep
 * the target they opened; new connections see the new configuration. What
 * changed is logged.
 */
import { readFile } from "node:fs/promises";
import { fromFsError } from "../errors.js";
import { checkReceiverSetup } from "../job/receiver-setup.js";
import { parseTargetSpec, type ReceiverConfig, type TargetConfig, targetMap } from "../job/targets.js";
import type { Authorized } from "../transport/allow-list.js";
import type { ServerSecurity } from "../transport/secure.js";
import { invalid } from "../validate.js";
import type { ReceiverFlags } from "./receiver-options.js";
import { allowedNames, authorizedSources, type ServerSecurityFlags } from "./security-options.js";

export type ServeFlags = ReceiverFlags & ServerSecurityFlags & { listen: string; targetsFile?: string };

/** Lines "NAME=PATH" ("#" starts a comment), each as `--target` takes it. */
export async function readTargetsFile(file: string): Promise<TargetConfig[]> {
  const text = await readFile(file, "utf8").catch((e: unknown) => {
    throw fromFsError(e, `--targets-file ${file}`);
  });
  const targets: TargetConfig[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    try {
      targets.push(parseTargetSpec(line));
    } catch {
      throw invalid(`--targets-file ${file} line ${i + 1}`, "NAME=PATH", line);
    }
  });
  return targets;
}

/** --target and the targets file's, checked to name each target once. */
export async function allTargets(flags: ServeFlags): Promise<Map<string, TargetConfig>> {
  const fromFile = flags.targetsFile === undefined ? [] : await readTargetsFile(flags.targetsFile);
  const targets = targetMap([...flags.target, ...fromFile]);
  if (targets.size === 0) throw invalid("--target", "at least one NAME=PATH (or a --targets-file)", "none");
  return targets;
}

/** Reads and checks the configuration again and swaps it in place; throws (nothing changed) for a bad one. */
export async function reload(flags: ServeFlags, config: ReceiverConfig, security: ServerSecurity): Promise<string[]> {
  const targets = await allTargets(flags);
  await checkReceiverSetup({ ...config, targets }, allowedNames(flags));
  const authorized = security.kind === "tls" ? await authorizedSources(flags) : undefined;
  const changes = diff("target", config.targets, targets, (t) => t.path);
  config.targets.clear();
  for (const [name, t] of targets) config.targets.set(name, t);
  if (security.kind === "tls" && authorized !== undefined) {
    changes.push(...diff("source key", security.authorized, authorized, (n) => [...n].sort().join(",")));
    replace(security.authorized, authorized);
  }
  return changes;
}

function replace(into: Authorized, from: Authorized): void {
  into.clear();
  for (const [k, v] of from) into.set(k, v);
}

/** "target a added (/x)", "target b removed", "source key K changed (a → a,b)". */
function diff<T>(what: string, before: Map<string, T>, after: Map<string, T>, show: (v: T) => string): string[] {
  const out: string[] = [];
  for (const [k, v] of after) {
    const old = before.get(k);
    if (old === undefined) out.push(`${what} ${k} added (${show(v)})`);
    else if (show(old) !== show(v)) out.push(`${what} ${k} changed (${show(old)} -> ${show(v)})`);
  }
  for (const [k, v] of before) if (!after.has(k)) out.push(`${what} ${k} removed (was ${show(v)})`);
  return out;
}

/** Reloads on every SIGHUP, one at a time; returns the function that stops listening for it. */
export function reloadOnHangup(
  flags: ServeFlags,
  config: ReceiverConfig,
  security: ServerSecurity,
  log: (line: string) => void,
): () => void {
  let running = Promise.resolve();
  const onHangup = () => {
    running = running.then(async () => {
      try {
        const changes = await reload(flags, config, security);
        log(`reloaded: ${changes.length === 0 ? "nothing changed" : changes.join("; ")}`);
      } catch (e) {
        log(`reload refused, the previous configuration stays: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  };
  process.on("SIGHUP", onHangup);
  return () => process.off("SIGHUP", onHangup);
}
