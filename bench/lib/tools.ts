/**
 * How each compared tool is started over the link, as starters for
 * timedRun(): `dd | nc` (with or without lz4 in the pipe), blockferry over TCP
 * (plaintext or TLS) or over ssh, and rsync against its daemon.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Link } from "../../test/helpers/netns.js";
import type { Sshd } from "../../test/helpers/sshd.js";
import { secretFile } from "./keys.js";
import { ddNc, measured, startReceiver, type Usage } from "./measure.js";
import { cli, out } from "./paths.js";
import type { Starter } from "./run.js";

/** blockferry without TLS, as `dd | nc` and the rsync daemon run. */
export const plaintext = ["--insecure-plaintext", "--secret-file", secretFile];

export function ddNcTool(link: Link, source: string, target: string, lz4 = false): Starter {
  return async () => {
    const { receiver, senderArgs } = await ddNc(link.dst, link.dstIp, source, target, lz4);
    return { receiver, args: senderArgs };
  };
}

/** `blockferry receive` with `receive` options, then `blockferry sync` with `sync` options (of `build`'s CLI). */
export function blockferryTool(
  link: Link,
  source: string,
  target: string,
  o: { receive?: string[]; sync?: string[] } = {},
  build = cli,
): Starter {
  return async () => {
    const { receiver, port } = await startReceiver(link.dst, build, link.dstIp, target, o.receive ?? []);
    const args = [process.execPath, build, "sync", ...(o.sync ?? []), source, `tcp://${link.dstIp}:${port}/t`];
    return { receiver, args };
  };
}

/** GNU time's "%U %S %M" lines (one per process it timed), summed: CPU seconds, and the largest RSS. */
function usageFrom(file: string): Usage {
  const lines = existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
  const runs = lines.map((l) => l.trim().split(/\s+/).slice(-3).map(Number)).filter((f) => f.length === 3);
  const cpuSeconds = runs.reduce((sum, [u = 0, s = 0]) => sum + u + s, 0);
  const maxRssMiB = Math.max(0, ...runs.map(([, , rss = 0]) => rss / 1024));
  return { code: 0, cpuSeconds, maxRssMiB, stdout: "", stderr: "" };
}

/**
 * blockferry over ssh to `sshd` (in the receiving namespace). The receiver
 * runs under sshd, so it is timed there by GNU time in --remote-path (sshd's
 * own decryption is not counted); the sender's figures include the ssh client.
 */
export function sshTool(link: Link, sshd: Sshd, source: string, target: string, sync: string[] = []): Starter {
  return async () => {
    const timeFile = join(out, "ssh-receiver.time");
    rmSync(timeFile, { force: true });
    const remote = `/usr/bin/time -a -o ${timeFile} -f '%U %S %M' ${process.execPath} ${cli}`;
    const args = [process.execPath, cli, "sync", "--quiet", "--create", "--rsh", sshd.sshArgs.join(" ")];
    args.push("--remote-path", remote, ...sync, source, `root@${link.dstIp}:${target}`);
    return { receiver: measured(link.dst, ["true"]), args, receiverUsage: () => usageFrom(timeFile) };
  };
}

/**
 * `rsync --inplace --no-whole-file` to an rsync daemon (no ssh, no
 * encryption) whose module is `target`'s directory. The daemon is stopped by
 * its pid once the client exited, so GNU time reports it and its children.
 */
export function rsyncTool(link: Link, source: string, target: string): Starter {
  return async () => {
    const conf = join(out, "rsyncd.conf");
    const pidFile = join(out, "rsyncd.pid");
    rmSync(pidFile, { force: true });
    writeFileSync(
      conf,
      `use chroot = no\nuid = root\ngid = root\npid file = ${pidFile}\n[t]\npath = ${dirname(target)}\nread only = no\n`,
    );
    const port = 8000 + Math.floor(Math.random() * 1000);
    const daemon = [
      "rsync",
      "--daemon",
      "--no-detach",
      `--address=${link.dstIp}`,
      `--port=${port}`,
      `--config=${conf}`,
    ];
    const receiver = measured(link.dst, daemon);
    await new Promise((r) => setTimeout(r, 500));
    const stop = () => {
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : Number.NaN;
      if (pid > 0) process.kill(pid, "SIGTERM");
      else receiver.child.kill();
    };
    const args = [
      "rsync",
      "--inplace",
      "--no-whole-file",
      source,
      `rsync://${link.dstIp}:${port}/t/${basename(target)}`,
    ];
    return { receiver, args, stop };
  };
}
