/**
 * A real OpenSSH server for tests and benchmarks: started inside a network
 * namespace (one of ours, or a new one with only loopback), with throwaway
 * host and client keys, accepting only that client key, for root. `sshArgs`
 * is the ssh command line that reaches it from inside the same namespace.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SSHD = "/usr/sbin/sshd";

export function sshdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespace, sshd)";
  if (!existsSync(SSHD)) return "no OpenSSH server (apt-get install openssh-server)";
  return undefined;
}

export interface Sshd {
  ns: string;
  host: string;
  port: number;
  /** ssh and its options, to be run inside `ns`. */
  sshArgs: string[];
  /** The same, entering the namespace first: for --rsh from outside it. */
  rsh: string;
  stop(): void;
}

export async function startSshd(dir: string, at?: { ns: string; host: string }): Promise<Sshd> {
  mkdirSync(dir, { recursive: true });
  const ownNs = at === undefined;
  const ns = at?.ns ?? `bf-ssh-${process.pid}`;
  const host = at?.host ?? "127.0.0.1";
  const port = 2222;
  if (ownNs) {
    execFileSync("ip", ["netns", "add", ns]);
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
  for (const key of ["host_key", "client_key"]) {
    if (!existsSync(join(dir, key)))
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, key)]);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")), { mode: 0o600 });
  const hostKey = readFileSync(join(dir, "host_key.pub"), "utf8").trim();
  writeFileSync(join(dir, "known_hosts"), `[${host}]:${port} ${hostKey}\n`);
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      `ListenAddress ${host}`,
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "PidFile none",
      "LogLevel INFO",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // its privilege-separation directory
  const child: ChildProcess = spawn("ip", ["netns", "exec", ns, SSHD, "-D", "-e", "-f", join(dir, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const removeNs = () => {
    if (!ownNs) return;
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      // already gone
    }
  };
  let log = "";
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr?.on("data", (d: Buffer) => {
        log += d.toString();
        if (/Server listening/.test(log)) resolve();
      });
      child.once("exit", (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
    });
  } catch (e) {
    removeNs(); // nothing of ours left behind when sshd does not start
    throw e;
  }
  const sshArgs = [
    "ssh",
    "-p",
    String(port),
    "-i",
    join(dir, "client_key"),
    "-o",
    `UserKnownHostsFile=${join(dir, "known_hosts")}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
  ];
  return {
    ns,
    host,
    port,
    sshArgs,
    rsh: ["ip", "netns", "exec", ns, ...sshArgs].join(" "),
    stop() {
      child.kill();
      removeNs();
    },
  };
}
