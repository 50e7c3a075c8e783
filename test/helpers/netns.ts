/**
 * Two network namespaces of the caller's own, joined by a veth pair: a source
 * host and a target host, for the tests and the benches alike. Only their own
 * addresses are used. With a rate (the benches), each end is shaped with
 * `tc tbf` and Ethernet's per-frame overhead charged (24 bytes of preamble,
 * FCS and gap beyond the 14-byte header the kernel counts), with TSO/GSO/GRO
 * off so frames are real frames. The link can be taken down and brought back;
 * cleanup() removes both namespaces (and the pair with them), also after a
 * crash of an earlier run of the same id.
 */
import { execFileSync } from "node:child_process";

export interface Link {
  src: string;
  dst: string;
  srcIp: string;
  dstIp: string;
  srcDev: string;
  /** Down at the source's end: the packets of both directions are lost, as with a pulled cable. */
  down(): void;
  up(): void;
  /** Bytes the source end has sent and received (its tx and rx counters). */
  txBytes(): number;
  rxBytes(): number;
  cleanup(): void;
}

export interface LinkOptions {
  /** A tc rate ("1gbit"); unshaped when absent. */
  rate?: string;
  id?: string;
}

export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespaces need root";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "iproute2 (ip) is not installed";
  }
  return undefined;
}

const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
const ip = (...args: string[]) => run("ip", ...args);

function shape(ns: string, dev: string, rate: string): void {
  ip("netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off");
  const tbf = ["root", "tbf", "rate", rate, "burst", "256kb", "latency", "50ms", "overhead", "24"];
  ip("netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, ...tbf);
}

export function createLink(options: LinkOptions = {}): Link {
  const id = options.id ?? String(process.pid);
  const [src, dst] = [`bf-src-${id}`, `bf-dst-${id}`];
  const [srcDev, dstDev] = [`bfs${id}`.slice(0, 15), `bfd${id}`.slice(0, 15)];
  const [srcIp, dstIp] = ["10.201.0.1", "10.201.0.2"];
  const cleanup = () => {
    for (const ns of [src, dst]) {
      try {
        ip("netns", "del", ns);
      } catch {
        // not there
      }
    }
  };
  cleanup();
  try {
    ip("netns", "add", src);
    ip("netns", "add", dst);
    ip("link", "add", srcDev, "netns", src, "type", "veth", "peer", "name", dstDev, "netns", dst);
    for (const [ns, dev, addr] of [
      [src, srcDev, srcIp],
      [dst, dstDev, dstIp],
    ] as const) {
      ip("-n", ns, "addr", "add", `${addr}/30`, "dev", dev);
      ip("-n", ns, "link", "set", dev, "up");
      ip("-n", ns, "link", "set", "lo", "up");
      if (options.rate !== undefined) shape(ns, dev, options.rate);
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
  return {
    src,
    dst,
    srcIp,
    dstIp,
    srcDev,
    down: () => ip("-n", src, "link", "set", srcDev, "down"),
    up: () => ip("-n", src, "link", "set", srcDev, "up"),
    txBytes: counter("tx_bytes"),
    rxBytes: counter("rx_bytes"),
    cleanup,
  };
}
