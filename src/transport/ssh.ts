/**
 * ssh: `blockferry sync SRC [user@]host:/path` starts `blockferry receive
 * --stdio` on the remote host through ssh and speaks the protocol over ssh's
 * stdin and stdout. ssh authenticates and encrypts; the remote receiver
 * writes only the path given on its command line. As rsync's -e and
 * --rsync-path: `--rsh` is the ssh command (port, key, cipher), and
 * `--remote-path` the remote blockferry command.
 */
import { spawn } from "node:child_process";
import { Duplex } from "node:stream";
import { BlockferryError } from "../errors.js";
import { invalid } from "../validate.js";

export interface SshOptions {
  /** The ssh command line, e.g. "ssh -p 2222 -i ~/.ssh/backup". */
  rsh: string;
  /** The remote blockferry, as a shell command prefix. */
  remotePath: string;
}

/** Splits a command line as a shell would for plain words, '…' and "…" (no expansions). */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const next = (i: number) => text[i] ?? "";
  for (let i = 0; i < text.length; i++) {
    const c = next(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word = `${word ?? ""}${c}`;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else word = `${word ?? ""}${c === "\\" && i + 1 < text.length ? next(++i) : c}`;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word ??= "";
      if (c === "'" || c === '"') quote = c;
      else word += c === "\\" && i + 1 < text.length ? next(++i) : c;
    }
  }
  if (quote !== undefined) throw invalid("--rsh", "a command line with balanced quotes", text);
  if (word !== undefined) words.push(word);
  if (words.length === 0) throw invalid("--rsh", "a command such as ssh", text);
  return words;
}

/** One word for the remote shell. */
export function shellQuote(word: string): string {
  // Plain words pass as they are; "=word" is quoted too (zsh would expand it).
  return /^[A-Za-z0-9_./:@%+-][A-Za-z0-9_./=:@%+-]*$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

interface RemoteProcess {
  stream: Duplex;
  /** Resolves when the remote command (ssh) has exited; never rejects. */
  exited: Promise<{ code: number | null; stderr: string }>;
  /** Turns a failure seen on the stream into what the remote process says went wrong. */
  explain(e: unknown): Promise<unknown>;
  kill(): void;
}

/** Runs `remotePath ARGS` on `host` through ssh. Its stderr lines go to `log` prefixed with the host. */
function runRemote(host: string, args: string[], o: SshOptions, log: (line: string) => void): RemoteProcess {
  const rsh = splitCommand(o.rsh);
  const command = `${o.remotePath} ${args.map(shellQuote).join(" ")}`;
  // "--": nothing after it is an ssh option, whatever the host looks like.
  const child = spawn(rsh[0] as string, [...rsh.slice(1), "--", host, command], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  let pending = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
    // Control characters from the remote never reach our terminal; a line is cut at 4 KiB.
    pending = (pending + d.toString().replace(/[^\n\t\x20-\x7e\u00a0-\uffff]/g, "?")).slice(-4096);
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") log(`${host}: ${line.replace(/^blockferry: /, "")}`);
  });
  // 'exit' and the end of its stderr, not 'close': our end of its stdin may still be open.
  const stderrEnded = new Promise<void>((resolve) => child.stderr.once("close", () => resolve()));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once("error", (e) => resolve({ code: 255, stderr: `${stderr}${(e as Error).message}` }));
    child.once("exit", (code) => stderrEnded.then(() => resolve({ code, stderr })));
  });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  stream.on("error", () => {}); // reported through the protocol, then explained below
  return {
    stream,
    exited,
    async explain(e) {
      // A protocol-level answer (another version, a refusal) says it all; a broken pipe does not.
      if (e instanceof BlockferryError && e.code !== "E_NETWORK") return e;
      // The remote's own words arrive on stderr as it exits: wait a moment for them.
      const end = await Promise.race([
        exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000).unref()),
      ]);
      if (end === undefined) return e;
      const said = end.stderr
        .trim()
        .split("\n")
        .slice(-3)
        .join(" / ")
        .replace(/[^\x20-\x7e\u00a0-\uffff]/g, "?");
      // ssh's own failures first: its warnings can say "No such file" too (a missing identity file).
      if (end.code === 255) return new BlockferryError("E_NETWORK", `ssh to ${host} failed: ${said || "no message"}`);
      if (end.code === 127 || end.code === 126) {
        return new BlockferryError(
          "E_NOT_FOUND",
          `${host} has no blockferry at "${o.remotePath}" (${said}); install it there, or name it with --remote-path`,
        );
      }
      return said === "" ? e : new BlockferryError("E_NETWORK", `${host}: the remote blockferry stopped: ${said}`);
    },
    kill: () => child.kill(),
  };
}

/**
 * Runs `remotePath ARGS` on `host` and `use`s its stdin/stdout; then the
 * remote command must exit with 0. A failure is explained by what the remote
 * side said; the ssh process never outlives this call.
 */
export async function withRemote<T>(
  host: string,
  args: string[],
  o: SshOptions,
  log: (line: string) => void,
  use: (stream: Duplex) => Promise<T>,
): Promise<T> {
  const remote = runRemote(host, args, o, log);
  try {
    const result = await use(remote.stream);
    const end = await remote.exited;
    if (end.code !== 0) {
      throw new BlockferryError(
        "E_NETWORK",
        `${host}: the remote blockferry exited with ${end.code}: ${end.stderr.trim()}`,
      );
    }
    return result;
  } catch (e) {
    throw await remote.explain(e);
  } finally {
    remote.kill();
  }
}
