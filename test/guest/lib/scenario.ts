/**
 * Inside the guest: what a scenario file starts with. `scenario(import.meta.filename)`
 * gives it its scratch disk (found by serial), a command runner that logs every
 * command and its output to RUN/logs/NAME.log (printed by the host when the
 * file fails), and the blockferry CLI as built on the host (dist/).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { diskSerial } from "../scenario-names.js";

const root = join(import.meta.dirname, "..", "..", "..");
const cli = join(root, "dist", "cli", "blockferry.cjs");

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started extends ChildProcess {
  /** Resolves when it exited, with all it printed (and logs it). */
  output(): Promise<Result>;
}

export interface Scenario {
  /** The file's name without .guest.ts: its disk's serial, its log's name, a prefix for its VGs. */
  name: string;
  /** Its own fresh scratch disk, /dev/vdX. */
  disk: string;
  /** A scratch folder in the guest's memory (tmpfs under the overlay). */
  dir: string;
  log(line: string): void;
  /** Runs a command; throws, with its output, unless it exits 0. Its stdout. */
  sh(file: string, ...args: string[]): string;
  /** Runs a command and returns whatever happened. */
  run(file: string, args: string[], env?: Record<string, string>): Result;
  /** Starts a command in the background. */
  start(file: string, args: string[], env?: Record<string, string>): Started;
  /** `blockferry ARGS`, as the host built it. */
  bf(args: string[], env?: Record<string, string>): Result;
  bfStart(args: string[], env?: Record<string, string>): Started;
}

export function scenario(file: string): Scenario {
  const run = process.env.BLOCKFERRY_GUEST_RUN;
  if (run === undefined || !readFileSync("/proc/cmdline", "utf8").includes("guest.init=")) {
    // LVM commands on the host's own disks: never.
    throw new Error("guest scenarios run only inside the test guest: npm run test:guest");
  }
  const name = diskSerial(file);
  const logFile = join(run, "logs", `${name}.log`);
  const log = (line: string) => appendFileSync(logFile, `${line}\n`);
  const record = (commandLine: string, r: Result, seconds: number) => {
    const how = r.signal === null ? `exit ${r.code}` : `signal ${r.signal}`;
    log(`$ ${commandLine}\n${r.stdout}${r.stderr}  -> ${how} (${seconds.toFixed(1)} s)`);
  };
  const s: Scenario = {
    name,
    disk: diskBySerial(name),
    dir: mkdtempSync(`/tmp/${name}-`),
    log,
    sh(file, ...args) {
      const r = s.run(file, args);
      if (r.code !== 0) throw new Error(`${[file, ...args].join(" ")} failed (${r.code ?? r.signal}): ${r.stderr}`);
      return r.stdout;
    },
    run(file, args, env = {}) {
      const t = performance.now();
      const p = spawnSync(file, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
      if (p.error) throw p.error;
      const r = { code: p.status, signal: p.signal, stdout: p.stdout, stderr: p.stderr };
      record([file, ...args].join(" "), r, (performance.now() - t) / 1000);
      return r;
    },
    start(file, args, env = {}) {
      const t = performance.now();
      const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
      log(`$ ${[file, ...args].join(" ")} &  (pid ${child.pid})`);
      return Object.assign(child, {
        output: async () => {
          const [code, signal] = await exited;
          const r = { code, signal, stdout, stderr };
          record(`(pid ${child.pid}) ${[file, ...args].join(" ")}`, r, (performance.now() - t) / 1000);
          return r;
        },
      });
    },
    bf: (args, env) => s.run(process.execPath, [cli, ...args], env),
    bfStart: (args, env) => s.start(process.execPath, [cli, ...args], env),
  };
  log(`===== ${name}: disk ${s.disk}, scratch ${s.dir}`);
  return s;
}

/** /dev/vdX whose virtio serial is `serial` (set by the host runner). */
function diskBySerial(serial: string): string {
  for (const dev of readdirSync("/sys/block").filter((d) => d.startsWith("vd"))) {
    const own = readFileSync(`/sys/block/${dev}/serial`, "utf8").trim();
    if (own === serial) return `/dev/${dev}`;
  }
  throw new Error(`no disk with serial ${serial}: did the host runner attach one for this scenario?`);
}

/** The port a started `serve`/`receive --listen HOST:0` says it listens on. */
export function listeningPort(child: Started): Promise<number> {
  return new Promise((resolve, reject) => {
    let said = "";
    child.stderr?.on("data", (d: Buffer) => {
      said += d.toString();
      const m = /listening on [^\s]+:(\d+)/.exec(said);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${said}`)));
  });
}
