/**
 * The host's side of the guest tier, part 1: the Debian packages it needs,
 * installed with apt-get when missing (as root; CI starts on a fresh machine).
 */
import { execFileSync, spawnSync } from "node:child_process";

/**
 * qemu: the emulator; lvm2, thin-provisioning-tools: run inside the guest from
 * the host's root; busybox-static: the initramfs; kmod: module dependencies;
 * e2fsprogs: a filesystem on an origin; iproute2: loopback in the guest.
 */
export const PACKAGES = [
  "qemu-system-x86",
  "lvm2",
  "thin-provisioning-tools",
  "busybox-static",
  "kmod",
  "e2fsprogs",
  "iproute2",
];

function installed(pkg: string): boolean {
  // dpkg-query's own format syntax, not a template string.
  const r = spawnSync("dpkg-query", ["-W", "-f=$" + "{Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

/** Installs what is missing; throws with apt-get's own words when it cannot. */
export function ensurePackages(log: (line: string) => void): void {
  const missing = PACKAGES.filter((p) => !installed(p));
  if (missing.length === 0) return;
  log(`installing ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { env, stdio: ["ignore", "ignore", "inherit"] });
  // Without --no-install-recommends, qemu-system-x86 pulls in a desktop stack.
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
}
