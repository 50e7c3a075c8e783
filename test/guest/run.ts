/**
 * `npm run test:guest [-- SCENARIO...]`: the scenarios of test/guest/scenarios
 * against real LVM, in one boot of a guest kernel that has device-mapper
 * (this machine's kernel has none). See test/guest/README.md.
 *
 * Needs root (apt-get, a 9p share of /). Not root: skipped with the reason,
 * except in CI (CI=true), where that is a failure. Exit code: vitest's in the
 * guest, or 1 when the guest did not get that far.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { DEFAULT_CACHE, prepareKernel } from "./kernel.js";
import { ensurePackages } from "./packages.js";
import { bootGuest, type Disk, diedBooting } from "./qemu.js";
import { DISK_SIZE, diskSerial, SCENARIO_SUFFIX } from "./scenario-names.js";

const root = join(import.meta.dirname, "..", "..");
const scenarioDir = join(import.meta.dirname, "scenarios");
const inCi = process.env.CI === "true";
const log = (line: string) => console.log(`[guest] ${line}`);

function skipOrFail(reason: string): never {
  if (inCi) {
    console.error(`[guest] FAILED: ${reason} (in CI the guest tier must run)`);
    process.exit(1);
  }
  console.log(`[guest] SKIPPED: ${reason}`);
  process.exit(0);
}

/**
 * Measurements rather than checks, too long for every CI run: run only when named
 * (change tracking against a hash delta: tracked, scattered 4 KiB writes on a 1 GiB thin LV, ~5 min
 * under emulation; trackpool, a night of backups through ext4 on a 2 GiB thin LV).
 */
const MEASUREMENTS = new Set(["tracked.guest.ts", "trackpool.guest.ts"]);

/** The scenario files named on the command line (by file name, with or without the suffix), or all but the measurements. */
function scenarios(names: string[]): string[] {
  const all = readdirSync(scenarioDir)
    .filter((f) => f.endsWith(SCENARIO_SUFFIX))
    .sort();
  if (names.length === 0) {
    log(`not run unless named: ${[...MEASUREMENTS].join(", ")} (measurements, see test/guest/README.md)`);
    return all.filter((f) => !MEASUREMENTS.has(f));
  }
  return names.map((n) => {
    const file = n.endsWith(SCENARIO_SUFFIX) ? n : `${n}${SCENARIO_SUFFIX}`;
    if (!all.includes(file)) throw new Error(`no scenario ${n}: there are ${all.join(", ")}`);
    return file;
  });
}

function checkBuilt(): void {
  for (const f of ["dist/cli/blockferry.cjs", "build/Release/blockferry.node"]) {
    if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run npm ci (the guest runs the built CLI)`);
  }
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) skipOrFail("needs root (apt-get, device-mapper in a guest, a 9p share of /)");
  try {
    ensurePackages(log);
  } catch (e) {
    skipOrFail(`cannot install the packages it needs: ${(e as Error).message}`);
  }
  checkBuilt();
  const files = scenarios(process.argv.slice(2));
  const started = Date.now();
  const kernel = prepareKernel(process.env.BLOCKFERRY_GUEST_CACHE ?? DEFAULT_CACHE, log);
  const runDir = mkdtempSync(join(tmpdir(), "blockferry-guest-"));
  mkdirSync(join(runDir, "logs"));
  mkdirSync(join(runDir, "disks"));
  // Fresh sparse disks, one per scenario file.
  const disks: Disk[] = files.map((f) => ({
    path: join(runDir, "disks", `${diskSerial(f)}.img`),
    serial: diskSerial(f),
  }));
  const freshDisks = () => {
    for (const d of disks) {
      writeFileSync(d.path, "");
      truncateSync(d.path, DISK_SIZE);
    }
  };
  freshDisks();
  const report = join(runDir, "report.json");
  const args = [
    ...files.map((f) => relative(root, join(scenarioDir, f))),
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
  ];
  writeFileSync(join(runDir, "vitest-args"), `${args.join("\n")}\n`);
  log(`kernel ${kernel.version}, ${files.length} scenario files, run folder ${runDir}`);
  const boot = () =>
    bootGuest({
      kernel,
      runDir,
      root,
      disks,
      timeoutMs: Number(process.env.BLOCKFERRY_GUEST_TIMEOUT ?? 2700) * 1000,
      cpus: 2,
      memoryMiB: 2048,
    });
  let booted = await boot();
  if (diedBooting(booted, readFileSync(join(runDir, "serial.log"), "utf8"))) {
    // QEMU itself crashed (once, 2026-12-08: a segfault 7 s into boot) before any scenario ran.
    console.error("[guest] QEMU died of a signal before the guest was up: booting it once more");
    freshDisks();
    booted = await boot();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const exitFile = join(runDir, "exit-code");
  const code = existsSync(exitFile) ? Number(readFileSync(exitFile, "utf8").trim()) : 1;
  if (booted.timedOut) console.error(`[guest] the guest did not power off in time: killed`);
  else if (!existsSync(exitFile))
    console.error(`[guest] the guest stopped (qemu exit ${booted.code}) before its scenarios ended`);
  if (code !== 0) {
    printLogsOfFailures(runDir, report, files);
    console.error(`[guest] FAILED after ${seconds} s; everything the guest wrote is in ${runDir}`);
    return 1;
  }
  log(`passed in ${seconds} s (kernel ${kernel.version})`);
  if (process.env.BLOCKFERRY_GUEST_KEEP === "1") log(`kept ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
  return 0;
}

/** Each failed scenario file's command log (every command the scenario ran, with its output). */
function printLogsOfFailures(runDir: string, report: string, files: string[]): void {
  let failed = files;
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, "utf8")) as { testResults: { name: string; status: string }[] };
    failed = files.filter((f) => r.testResults.some((t) => t.name.endsWith(f) && t.status !== "passed"));
  }
  for (const f of failed) {
    const path = join(runDir, "logs", `${diskSerial(f)}.log`);
    if (!existsSync(path)) continue;
    console.error(`\n[guest] ===== commands of ${f}, as run in the guest =====`);
    console.error(readFileSync(path, "utf8"));
  }
}

process.exitCode = await main().catch((e) => {
  console.error(`[guest] ${(e as Error).stack ?? e}`);
  return 1;
});
