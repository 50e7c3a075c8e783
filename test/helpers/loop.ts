import { execFileSync } from "node:child_process";

/** Why loop-device tests cannot run here, or undefined when they can. */
export function loopUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "loop devices need root";
  try {
    execFileSync("losetup", ["--version"], { stdio: "ignore" });
  } catch {
    return "losetup is not installed";
  }
  return undefined;
}

/** Attaches `file` to a free loop device; returns its path. */
export function attachLoop(file: string, options: { sectorSize?: number } = {}): string {
  const args = ["--find", "--show"];
  if (options.sectorSize !== undefined) args.push("--sector-size", String(options.sectorSize));
  return execFileSync("losetup", [...args, file], { encoding: "utf8" }).trim();
}

export function detachLoop(device: string): void {
  execFileSync("losetup", ["--detach", device]);
}
