/**
 * Two network namespaces of this test's own, joined by a veth pair: a source
 * host and a target host. Only their own addresses are used. The link can be
 * taken down and brought back; cleanup() removes both (and the pair with them).
 */
import { execFileSync } from "node:child_process";

export interface TestLink {
  src: string;
  dst: string;
  dstIp: string;
  down(): void;
  up(): void;
  cleanup(): void;
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

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

export function createTestLink(id = String(process.pid)): TestLink {
  const src = `bft-src-${id}`;
  const dst = `bft-dst-${id}`;
  const srcDev = `bts${id}`.slice(0, 15);
  const dstDev = `btd${id}`.slice(0, 15);
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
      [src, srcDev, "10.202.0.1/30"],
      [dst, dstDev, "10.202.0.2/30"],
    ] as const) {
      ip("-n", ns, "addr", "add", addr, "dev", dev);
      ip("-n", ns, "link", "set", dev, "up");
      ip("-n", ns, "link", "set", "lo", "up");
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  // Down at the source's end: the packets of both directions are lost, as with a pulled cable.
  return {
    src,
    dst,
    dstIp: "10.202.0.2",
    down: () => ip("-n", src, "link", "set", srcDev, "down"),
    up: () => ip("-n", src, "link", "set", srcDev, "up"),
    cleanup,
  };
}
