/** Command-line options for how sources and receivers prove themselves (src/transport/secure.ts). */
import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { type AdmissionLimits, DEFAULT_LIMITS } from "../transport/admission.js";
import { type Authorized, parseAllow, readAllowFile } from "../transport/allow-list.js";
import { defaultKeyDir, loadHostKey } from "../transport/keys.js";
import { readSecret } from "../transport/secret.js";
import type { ClientSecurity, ServerSecurity } from "../transport/secure.js";
import { invalid } from "../validate.js";

interface CommonFlags {
  keyDir: string;
  insecurePlaintext?: boolean;
  secretFile?: string;
}
export interface ServerSecurityFlags extends CommonFlags {
  allow: Array<[string, Set<string>]>;
  allowFile?: string;
  maxUnauthenticated: string;
  maxUnauthenticatedPerAddress: string;
}
export interface ClientSecurityFlags extends CommonFlags {
  knownHosts?: string;
  trustNewHost?: boolean;
}

function addCommon(command: Command): Command {
  return command
    .option("--key-dir <dir>", "this host's key (key.pem, cert.pem; see `blockferry keygen`)", defaultKeyDir())
    .option("--insecure-plaintext", "no TLS: trusted LANs and benchmarks only; both ends must prove --secret-file")
    .option("--secret-file <file>", "with --insecure-plaintext: a shared secret (16 characters or more)");
}

export function addServerSecurityOptions(command: Command): Command {
  return addCommon(command)
    .option(
      "--allow <FINGERPRINT=NAMES>",
      "a source key allowed in, and the targets it may write (NAME,NAME or *; repeatable)",
      (spec: string, all: Array<[string, Set<string>]>) => [...all, parseAllow(spec)],
      [] as Array<[string, Set<string>]>,
    )
    .option("--allow-file <file>", "lines of FINGERPRINT NAME[,NAME] (default: KEY-DIR/allowed_sources if present)")
    .option(
      "--max-unauthenticated <n>",
      "connections that may wait to prove who they are, in all (more are dropped)",
      String(DEFAULT_LIMITS.total),
    )
    .option(
      "--max-unauthenticated-per-address <n>",
      "of those, from one address (an IPv6 /64 counts as one)",
      String(DEFAULT_LIMITS.perAddress),
    );
}

function admissionLimits(flags: ServerSecurityFlags): AdmissionLimits {
  const count = (flag: string, value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw invalid(flag, "a whole number from 1", value);
    return n;
  };
  const total = count("--max-unauthenticated", flags.maxUnauthenticated);
  const perAddress = count("--max-unauthenticated-per-address", flags.maxUnauthenticatedPerAddress);
  if (perAddress > total) {
    throw invalid("--max-unauthenticated-per-address", `at most --max-unauthenticated (${total})`, perAddress);
  }
  return { ...DEFAULT_LIMITS, total, perAddress };
}

export function addClientSecurityOptions(command: Command): Command {
  return addCommon(command)
    .option("--known-hosts <file>", "pinned receiver keys (default: KEY-DIR/known_hosts)")
    .option("--trust-new-host", "pin a receiver not yet in known_hosts (check its fingerprint first)");
}

/** The target names --allow grants (checked against the receiver's targets at start). */
export function allowedNames(flags: ServerSecurityFlags): string[] {
  return flags.allow.flatMap(([, names]) => [...names]);
}

async function plaintext(
  flags: CommonFlags,
  log: (line: string) => void,
): Promise<{ kind: "plaintext"; secret: Buffer }> {
  if (flags.secretFile === undefined) {
    throw invalid("--insecure-plaintext", "a --secret-file shared with the other end", "no --secret-file");
  }
  log("WARNING: --insecure-plaintext: data crosses the network unencrypted (trusted LANs and benchmarks only)");
  return { kind: "plaintext", secret: await readSecret(flags.secretFile) };
}

export async function serverSecurity(flags: ServerSecurityFlags, log: (line: string) => void): Promise<ServerSecurity> {
  const limits = admissionLimits(flags);
  if (flags.insecurePlaintext) {
    // A shared secret names no one: whoever holds it may write every target. Say so rather than ignore the list.
    if (flags.allow.length > 0 || flags.allowFile !== undefined) {
      throw invalid("--insecure-plaintext", "no --allow or --allow-file (keys need TLS)", "both");
    }
    return { ...(await plaintext(flags, log)), limits };
  }
  const key = await loadHostKey(flags.keyDir);
  const authorized = await authorizedSources(flags);
  log(`this receiver's key: ${key.fingerprint}`);
  return { kind: "tls", key, authorized, limits };
}

/** The source keys allowed in: the allow file's (read again at every call: serve's SIGHUP), then --allow's. */
export async function authorizedSources(flags: ServerSecurityFlags): Promise<Authorized> {
  const defaultFile = join(flags.keyDir, "allowed_sources");
  const file =
    flags.allowFile ??
    (await access(defaultFile).then(
      () => defaultFile,
      () => undefined,
    ));
  const authorized: Authorized = file === undefined ? new Map() : await readAllowFile(file);
  for (const [fingerprint, names] of flags.allow) {
    authorized.set(fingerprint, new Set([...(authorized.get(fingerprint) ?? []), ...names]));
  }
  if (authorized.size === 0) {
    throw invalid("--allow", "at least one source key (--allow FINGERPRINT=TARGET, or an allow file)", "none");
  }
  return authorized;
}

export async function clientSecurity(flags: ClientSecurityFlags, log: (line: string) => void): Promise<ClientSecurity> {
  if (flags.insecurePlaintext) return plaintext(flags, log);
  return {
    kind: "tls",
    key: await loadHostKey(flags.keyDir),
    knownHosts: flags.knownHosts ?? join(flags.keyDir, "known_hosts"),
    trustNewHost: flags.trustNewHost ?? false,
    announce: log,
  };
}
