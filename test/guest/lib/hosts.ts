/**
 * Inside the guest: two servers for the README walk-through, as separate as
 * one kernel allows. Each host has its own mount and UTS namespaces (kept in
 * files under /run/bfhosts, entered with nsenter for every command): its own
 * /etc and /var (overlays on the guest's, with blockferry's directories
 * empty, as on a fresh server), so its own keys, state, caches, units' state
 * and mounts, and its own host name. They share the network
 * stack (the guest loads no veth module): 10.0.0.1 and 10.0.0.2 on loopback,
 * named in /etc/hosts as the README names them. blockferry is installed where
 * the .deb puts it, the units and the example job too; systemctl and
 * systemd-run are stand-ins (./standin), as no systemd runs in the guest.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Result, Scenario } from "./scenario.js";

const root = join(import.meta.dirname, "..", "..", "..");
const NS = "/run/bfhosts";

export interface Host {
  /** primary or secondary: the README's prompt. */
  role: string;
  hostname: string;
  address: string;
  /** Runs a bash command line on this host; whatever happened. */
  sh(command: string): Result;
  /** Starts one in the background, in a process group of its own (kill(-pid) ends it all). */
  start(command: string): ChildProcess;
}

export type Role = "primary" | "secondary";

export const HOSTS = [
  { role: "primary", hostname: "backup1", address: "10.0.0.1" },
  { role: "secondary", hostname: "backup2", address: "10.0.0.2" },
] as const;

/** Installs blockferry as the package does, then makes both hosts. */
export function twoHosts(s: Scenario): Record<Role, Host> {
  install(s);
  for (const h of HOSTS) s.sh("ip", "addr", "add", `${h.address}/32`, "dev", "lo");
  appendFileSync("/etc/hosts", HOSTS.map((h) => `${h.address} ${h.hostname}.example.net ${h.hostname}\n`).join(""));
  mkdirSync(NS, { recursive: true });
  s.sh("mount", "--bind", NS, NS);
  s.sh("mount", "--make-private", NS);
  return { primary: makeHost(s, HOSTS[0]), secondary: makeHost(s, HOSTS[1]) };
}

/** What a fresh server has none of (the guest's lower layer is this machine's own /etc and /var). */
const FRESH = ["/etc/blockferry", "/var/lib/blockferry", "/var/cache/blockferry"];
const empty = (d: string) => `mkdir -p ${d} && mount -t tmpfs -o mode=0755 tmpfs ${d}`;

function makeHost(s: Scenario, h: (typeof HOSTS)[number]): Host {
  const dir = join(NS, h.role);
  const mnt = `${dir}.mnt`;
  const uts = `${dir}.uts`;
  for (const d of ["etc", "etc-work", "var", "var-work"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(mnt, "");
  writeFileSync(uts, "");
  const overlay = (d: string) =>
    `mount -t overlay overlay -o lowerdir=/${d},upperdir=${dir}/${d},workdir=${dir}/${d}-work /${d}`;
  s.sh(
    "unshare",
    `--mount=${mnt}`,
    `--uts=${uts}`,
    "--propagation",
    "private",
    "bash",
    "-ec",
    `hostname ${h.hostname}; ${overlay("etc")}; ${overlay("var")}; ${FRESH.map(empty).join("; ")}`,
  );
  const enter = (command: string) => [`--mount=${mnt}`, `--uts=${uts}`, "bash", "-c", command];
  return {
    ...h,
    sh: (command) => {
      s.log(`[${h.role}]`);
      return s.run("nsenter", enter(command));
    },
    start: (command) => {
      s.log(`[${h.role}] ${command} &`);
      return spawn("nsenter", enter(command), { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    },
  };
}

/** What the .deb installs, where it installs it (scripts/package-deb.sh), on the guest's own root. */
function install(s: Scenario): void {
  writeFileSync(
    "/usr/bin/blockferry",
    `#!/bin/sh\nexec ${process.execPath} ${join(root, "dist", "cli", "blockferry.cjs")} "$@"\n`,
    { mode: 0o755 },
  );
  const units = "/usr/lib/systemd/system";
  const examples = "/usr/share/doc/blockferry/examples";
  mkdirSync(units, { recursive: true });
  mkdirSync(examples, { recursive: true });
  for (const f of readdirSync(join(root, "contrib", "systemd"))) {
    copyFileSync(join(root, "contrib", "systemd", f), join(units, f));
  }
  copyFileSync(join(root, "contrib", "nightly.toml"), join(examples, "nightly.toml"));
  for (const tool of ["systemctl", "systemd-run"]) {
    copyFileSync(join(import.meta.dirname, "standin", tool), `/usr/local/bin/${tool}`);
    chmodSync(`/usr/local/bin/${tool}`, 0o755);
  }
  s.log("installed: /usr/bin/blockferry, the units, the example job, the systemctl and systemd-run stand-ins");
}
