import { tmpdir } from "node:os";
import type { Command } from "commander";
import { formatReport } from "../benchmark/report.js";
import { type BenchDestination, runBench } from "../benchmark/run.js";
import { BlockferryError } from "../errors.js";
import { remoteReceive } from "../job/push.js";
import { jsonText, printable } from "../printable.js";
import { parseDestination } from "../transport/destination.js";
import { connectSecure } from "../transport/secure.js";
import { withRemote } from "../transport/ssh.js";
import { parseSize } from "../units.js";
import { invalid } from "../validate.js";
import { stderrLog } from "./receiver-options.js";
import { addClientSecurityOptions, type ClientSecurityFlags, clientSecurity } from "./security-options.js";
import { codecAndBlockSize } from "./source-settings.js";

interface BenchFlags extends ClientSecurityFlags {
  to?: string;
  change: string;
  compress: string;
  blockSize: string;
  seconds: string;
  sample: string;
  fullScan?: boolean;
  size?: string;
  tmpDir: string;
  rsh: string;
  remotePath: string;
  json?: boolean;
  quiet?: boolean;
}

const MAX_SECONDS = 3600;

/** `blockferry bench [VOLUME] [--to DEST]`: measure this host (and the link), predict sync times. */
export function registerBench(program: Command): void {
  addClientSecurityOptions(program.command("bench"))
    .description("measure reads, digests, lz4, zero blocks (and with --to the link), then predict sync times")
    .argument("[volume]", "block device or image file to sample (read only); default: a temporary file of random bytes")
    .option(
      "--to <dest>",
      "also measure the link to DEST as sync would reach it (tcp://HOST:PORT/NAME or [USER@]HOST:/PATH); nothing is written there",
    )
    .option("--change <rate>", "share of the blocks changed between syncs, for the delta prediction", "1%")
    .option("--compress <codec>", "predict with lz4 or none, as sync takes it", "none")
    .option("--block-size <size>", "block size, as sync takes it", "64K")
    .option("--seconds <n>", "time limit for the whole measurement", "30")
    .option("--sample <size>", "bytes of the volume to read, spread over it", "1G")
    .option("--full-scan", "read the whole volume (within --seconds) instead of a sample")
    .option("--size <size>", "without VOLUME: the volume size to predict for (default 100G)")
    .option("--tmp-dir <dir>", "without VOLUME: where the temporary file goes (not tmpfs: O_DIRECT)", tmpdir())
    .option("--rsh <command>", "ssh destinations: the ssh command", "ssh")
    .option("--remote-path <command>", "ssh destinations: the blockferry command on the remote host", "blockferry")
    .option("--json", "print the measurements and predictions as JSON on stdout")
    .option("-q, --quiet", "no progress on stderr")
    .action(async (volume: string | undefined, flags: BenchFlags) => {
      const startupSeconds = performance.now() / 1000; // node, the modules and the addon: a sync pays it too
      try {
        await bench(volume, flags, startupSeconds);
      } catch (e) {
        if (flags.json) {
          const code = e instanceof BlockferryError ? e.code : "E_INTERNAL";
          process.stdout.write(`${jsonText({ ok: false, code, message: (e as Error).message })}\n`);
        }
        throw e;
      }
    });
}

async function bench(volume: string | undefined, flags: BenchFlags, startupSeconds: number): Promise<void> {
  const settings = checkBenchFlags(volume, flags);
  const started = performance.now();
  const log = flags.quiet
    ? () => {}
    : (line: string) => {
        const at = ((performance.now() - started) / 1000).toFixed(0).padStart(3);
        process.stderr.write(`blockferry bench [${at} s of ${settings.seconds}]: ${printable(line)}\n`);
      };
  const to =
    flags.to === undefined ? undefined : await destination(flags.to, flags, flags.quiet ? () => {} : stderrLog);
  const report = await runBench({
    volume,
    tmpDir: flags.tmpDir,
    ...settings,
    to,
    startupSeconds,
    progress: log,
  });
  if (flags.json) process.stdout.write(`${jsonText(report)}\n`);
  else process.stdout.write(`${formatReport(report).split("\n").map(printable).join("\n")}\n`);
}

/** Every value `bench` takes, checked before anything is measured. */
export function checkBenchFlags(volume: string | undefined, flags: BenchFlags) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(flags.change);
  const change = m ? Number(m[1]) / 100 : Number.NaN;
  if (!(change >= 0 && change <= 1))
    throw invalid("--change", "a percentage from 0% to 100%, such as 1%", flags.change);
  const seconds = Number(flags.seconds);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(flags.seconds) || !(seconds >= 1 && seconds <= MAX_SECONDS)) {
    throw invalid("--seconds", `a time limit from 1 to ${MAX_SECONDS} seconds`, flags.seconds);
  }
  const { blockSize } = codecAndBlockSize(flags);
  const sampleBytes = parseSize("--sample", flags.sample);
  if (volume !== undefined && flags.size !== undefined) {
    throw invalid("--size", "no VOLUME (the volume's own size is predicted for)", flags.size);
  }
  const size = volume === undefined ? parseSize("--size", flags.size ?? "100G") : undefined;
  return {
    change,
    seconds,
    compress: flags.compress === "lz4",
    blockSize,
    sampleBytes,
    fullScan: flags.fullScan ?? false,
    size,
  };
}

/** How a sync would reach `spec`: TLS or plaintext TCP with the same security flags, or ssh. */
async function destination(spec: string, flags: BenchFlags, log: (line: string) => void): Promise<BenchDestination> {
  const dest = parseDestination(spec);
  if (dest.kind === "tcp") {
    // Keys and secrets are read now: a mistake there stops the bench before it measures anything.
    const security = await clientSecurity(flags, log);
    return {
      spec,
      transport: security.kind,
      targetName: dest.targetName,
      connect: async (use) => {
        const socket = await connectSecure(dest.endpoint, security, log);
        try {
          return await use(socket);
        } finally {
          socket.destroy();
        }
      },
    };
  }
  if (dest.kind === "ssh") {
    const { name, args } = remoteReceive(dest.path);
    return {
      spec,
      transport: "ssh",
      targetName: name,
      connect: (use) => withRemote(dest.host, args, { rsh: flags.rsh, remotePath: flags.remotePath }, log, use),
    };
  }
  throw invalid("--to", "tcp://HOST:PORT/TARGET-NAME or [USER@]HOST:/PATH (a local path has no link to measure)", spec);
}
