/**
 * Two network namespaces joined by a veth pair, each end shaped with
 * `tc tbf rate 1gbit` and Ethernet's per-frame overhead charged (24 bytes of
 * preamble, FCS and gap beyond the 14-byte header the kernel counts), with
 * TSO/GSO/GRO off so frames are real frames. Only these namespaces' addresses
 * are used. Removed by cleanup(), also on a crash of the bench (by name).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Link {
  src: string;
  dst: string;
  srcIp: string;
  dstIp: string;
  srcDev: string;
  /** Bytes the source end has sent and received (its tx and rx counters). */
  txBytes(): number;
  rxBytes(): number;
  cleanup(): void;
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function createLink(rate = "1gbit", id = String(process.pid)): Link {
  const src = `bf-src-${id}`;
  const dst = `bf-dst-${id}`;
  const srcDev = `bfs${id}`.slice(0, 15);
  const dstDev = `bfd${id}`.slice(0, 15);
  const srcIp = "10.201.0.1";
  const dstIp = "10.201.0.2";
  const cleanup = () => {
    for (const ns of [src, dst]) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // already gone
      }
    }
  };
  cleanup();
  try {
    sh("ip", ["netns", "add", src]);
    sh("ip", ["netns", "add", dst]);
    sh("ip", ["link", "add", srcDev, "netns", src, "type", "veth", "peer", "name", dstDev, "netns", dst]);
    for (const [ns, dev, ip] of [
      [src, srcDev, srcIp],
      [dst, dstDev, dstIp],
    ] as const) {
      sh("ip", ["-n", ns, "addr", "add", `${ip}/30`, "dev", dev]);
      sh("ip", ["-n", ns, "link", "set", dev, "up"]);
      sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
      sh("ip", ["netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"]);
      if (rate !== "none") {
        sh("ip", [
          "netns",
          "exec",
          ns,
          "tc",
          "qdisc",
          "add",
          "dev",
          dev,
          "root",
          "tbf",
          "rate",
          rate,
          "burst",
          "256kb",
          "latency",
          "50ms",
          "overhead",
          "24",
        ]);
      }
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  const counter = (name: string) => () =>
    Number(
      execFileSync("ip", ["netns", "exec", src, "cat", `/sys/class/net/${srcDev}/statistics/${name}`], {
        encoding: "utf8",
      }).trim(),
    );
  return { src, dst, srcIp, dstIp, srcDev, txBytes: counter("tx_bytes"), rxBytes: counter("rx_bytes"), cleanup };
}

export function dropCaches(): void {
  sh("sync", []);
  sh("sh", ["-c", "echo 3 > /proc/sys/vm/drop_caches"]);
}

export function machine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
  const kernel = execFileSync("uname", ["-r"], { encoding: "utf8" }).trim();
  return `${cpu}, ${execFileSync("nproc", { encoding: "utf8" }).trim()} cores, kernel ${kernel}, Node.js ${process.version}`;
}
