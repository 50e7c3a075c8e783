/** The bench's host: dropping the page cache between rows, and one line saying what machine measured. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
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
