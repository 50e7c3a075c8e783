/**
 * `run --check`: what would fail at 01:30, found now. Each job's source, local
 * destination directory, --with-dir sources, hooks' commands, key and pin (or
 * secret) must exist; with --connect each receiver is reached and asked, as a
 * probe that writes nothing, whether this key may write the job's target
 * (which checks the pin and the allow-list); an ssh destination's remote
 * end is started as a sync starts it, with `receive --check` (ssh reaches
 * the host, its blockferry runs, DEST exists or could be created). Every
 * problem of every job is listed, then the check fails (E_CONFIG).
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { probeOver } from "../benchmark/probe-client.js";
import { BlockferryError } from "../errors.js";
import type { Job } from "../job/job-file.js";
import { remoteReceive } from "../job/push.js";
import { openVolume } from "../native/index.js";
import { printable } from "../printable.js";
import { parseDestination, parseSshSpec } from "../transport/destination.js";
import { loadHostKey } from "../transport/keys.js";
import { readSecret } from "../transport/secret.js";
import { connectSecure } from "../transport/secure.js";
import { withRemote } from "../transport/ssh.js";
import { clientSecurity } from "./security-options.js";
import { keepGoodOf, parseWithDir, type SyncFlags } from "./sync.js";

const why = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The problems of one job, as sentences; none: it can run. */
export async function jobProblems(job: Job, flags: SyncFlags, connect: boolean): Promise<string[]> {
  const problems: string[] = [];
  const check = async (what: string, test: () => Promise<unknown>) => {
    await test().catch((e: unknown) => problems.push(`${what}: ${why(e)}`));
  };
  if (parseSshSpec(job.source, "SOURCE") === undefined) {
    await check("source", () => access(job.source, constants.R_OK));
  }
  const dest = parseDestination(job.destination);
  if (dest.kind === "local") {
    const exists = await stat(dest.path).then(
      () => true,
      () => false,
    );
    if (!exists && !flags.create) problems.push(`destination ${dest.path} does not exist (and no create = true)`);
    await check("destination directory", () => isDirectory(dirname(resolve(dest.path))));
  }
  for (const spec of flags.withDir) {
    const dir = parseWithDir(spec).source;
    await check(`with-dir ${dir}`, () => isDirectory(dir));
  }
  for (const [key, command] of [
    ["pre-snapshot", flags.preSnapshot],
    ["post-snapshot", flags.postSnapshot],
  ] as const) {
    if (command !== undefined) await check(key, () => findCommand(command));
  }
  if (flags.metricsFile !== undefined)
    await check("metrics-file", () => isDirectory(dirname(resolve(flags.metricsFile ?? ""))));
  if (dest.kind === "tcp") {
    const hostPort = `${dest.endpoint.host}:${dest.endpoint.port}`;
    if (flags.insecurePlaintext) await check("secret-file", () => readSecret(flags.secretFile ?? ""));
    else {
      await check("key-dir", () => loadHostKey(flags.keyDir));
      if (!flags.trustNewHost)
        await check("known-hosts", () => pinned(flags.knownHosts ?? join(flags.keyDir, "known_hosts"), hostPort));
    }
    if (connect && problems.length === 0) await check(`receiver ${hostPort}`, () => probeTarget(job, flags, dest));
  }
  if (dest.kind === "ssh" && connect && problems.length === 0)
    await check(`receiver ${dest.host} (ssh)`, () => checkOverSsh(flags, dest));
  return problems;
}

/** ssh options of the check: never a prompt, and a host that does not answer fails soon. */
const CHECK_SSH_OPTIONS = "-o BatchMode=yes -o ConnectTimeout=10";

/**
 * The remote end started as the sync starts it (remoteReceive), with
 * --check: ssh reaches the host, its blockferry runs, and DEST exists and
 * may be written, or could be created; nothing is written.
 */
async function checkOverSsh(flags: SyncFlags, dest: { host: string; path: string }): Promise<void> {
  const { args } = remoteReceive(dest.path, {
    create: flags.create ?? false,
    keepGood: keepGoodOf(flags),
    dirs: flags.withDir.map(parseWithDir),
  });
  const ssh = { rsh: `${flags.rsh} ${CHECK_SSH_OPTIONS}`, remotePath: flags.remotePath };
  await withRemote(
    dest.host,
    [...args, "--check"],
    ssh,
    () => {},
    async () => {},
  );
}

async function isDirectory(path: string): Promise<void> {
  const info = await stat(path);
  if (!info.isDirectory()) throw new BlockferryError("E_NOT_FOUND", `${path} is not a directory`);
}

/** The hook's command (its first word) as /bin/sh would find it: a path, or a name on PATH (or a shell builtin). */
async function findCommand(command: string): Promise<void> {
  const word = command.trim().split(/\s+/)[0] ?? "";
  if (word === "" || /^[A-Za-z_][A-Za-z0-9_]*=/.test(word) || SHELL_WORDS.has(word)) return;
  const candidates = word.includes("/")
    ? [isAbsolute(word) ? word : resolve(word)]
    : (process.env.PATH ?? "").split(delimiter).map((d) => join(d, word));
  for (const c of candidates) {
    if (
      await access(c, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  throw new BlockferryError(
    "E_NOT_FOUND",
    `no command ${JSON.stringify(word)} ${word.includes("/") ? "there" : "on PATH"}`,
  );
}

const SHELL_WORDS = new Set([
  "cd",
  "exec",
  "exit",
  "true",
  "false",
  ":",
  "test",
  "[",
  "echo",
  "printf",
  "set",
  "export",
  "if",
  "for",
  "while",
  "{",
  "(",
  "!",
  ".",
]);

async function pinned(file: string, hostPort: string): Promise<void> {
  const text = await readFile(file, "utf8").catch(() => "");
  if (!text.split("\n").some((l) => l.trim().split(/\s+/)[0] === hostPort)) {
    throw new BlockferryError(
      "E_AUTH",
      `no key pinned for ${hostPort} in ${file} (run one sync with --trust-new-host, after checking its fingerprint)`,
    );
  }
}

/** A probe: TLS with the pin, the allow-list and the target looked up on the receiver; nothing written. */
async function probeTarget(
  job: Job,
  flags: SyncFlags,
  dest: Extract<ReturnType<typeof parseDestination>, { kind: "tcp" }>,
): Promise<void> {
  const security = await clientSecurity({ ...flags, trustNewHost: false }, () => {});
  const size = await sourceSize(job.source);
  const socket = await connectSecure(dest.endpoint, security, () => {});
  await probeOver(socket, {
    targetName: dest.targetName,
    sourceId: `${hostname()}:run --check`,
    sourceSize: size,
    blockSize: 64 * 1024,
    streamMs: 100,
    timeoutMs: 30_000,
    readMs: 0,
    readBytes: 0,
    localDataBytes: 0,
  });
}

async function sourceSize(source: string): Promise<number> {
  if (parseSshSpec(source, "SOURCE") !== undefined) return 1 << 20;
  const volume = await openVolume(source);
  try {
    return volume.size;
  } finally {
    await volume.close();
  }
}

/** Checks every job; prints each one's verdict; throws E_CONFIG naming the jobs with problems. */
export async function checkJobs(
  file: string,
  prepared: Array<{ job: Job; flags: SyncFlags }>,
  connect: boolean,
): Promise<void> {
  const failed: string[] = [];
  for (const { job, flags } of prepared) {
    const problems = await jobProblems(job, flags, connect);
    const head = `${job.name}: ${job.source} -> ${job.destination}`;
    process.stdout.write(
      `${printable(head)}${problems.length === 0 ? (connect ? ": ok, receiver reached" : ": ok") : ""}\n`,
    );
    for (const p of problems) process.stdout.write(`  ${printable(p)}\n`);
    if (problems.length > 0) failed.push(job.name);
  }
  if (failed.length > 0) {
    throw new BlockferryError(
      "E_CONFIG",
      `${file}: ${failed.length} of ${prepared.length} jobs would fail: ${failed.join(", ")}`,
    );
  }
}
