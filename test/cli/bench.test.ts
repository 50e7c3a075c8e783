import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes } from "../helpers/random.js";

const scratch = scratchDir();
const servers: Array<{ child: ChildProcess }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill("SIGKILL");
});
afterAll(() => scratch.remove());

/** Every prediction there, positive, with a named bottleneck. */
function expectPredictions(report: { prediction: Record<string, unknown> }) {
  for (const sync of ["fullCopy", "delta", "deltaCached", "deltaTracked"]) {
    expect(report.prediction[sync]).toMatchObject({
      seconds: expect.any(Number),
      bottleneck: expect.any(String),
      stages: expect.any(Array),
    });
    expect((report.prediction[sync] as { seconds: number }).seconds).toBeGreaterThan(0);
  }
  expect(report.prediction.advice).toEqual(expect.arrayContaining([expect.any(String)]));
  expect(report.prediction.assumptions).toEqual(expect.arrayContaining([expect.any(String)]));
}

describe("blockferry bench", () => {
  it("without a volume measures a temporary file, removes it, and predicts for --size", async () => {
    const tmp = join(scratch.dir, "tmp");
    mkdirSync(tmp);
    const r = await run(["bench", "--json", "--seconds", "5", "--size", "10G", "--tmp-dir", tmp]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      ok: true,
      volume: { path: null, generated: true },
      settings: { blockSize: 65536, compress: "none", change: 0.01, predictedSize: 10 * 2 ** 30 },
      measured: {
        readDirect: { bytesPerSecond: expect.any(Number) },
        readBuffered: { bytesPerSecond: expect.any(Number) },
        digest: { bytesPerSecondPerCore: expect.any(Number), cores: expect.any(Number) },
        lz4: { bytesPerSecondPerCore: expect.any(Number), ratio: expect.any(Number) },
        zero: { holeFraction: 0, zeroFractionOfData: 0 },
        network: null,
      },
    });
    expect(report.measured.readDirect.bytesPerSecond).toBeGreaterThan(0);
    expectPredictions(report);
    expect(report.elapsedSeconds).toBeLessThan(7);
    expect(r.stderr).toMatch(/blockferry bench \[ *\d+ s of 5\]: reading/);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("samples a given image and prints a table: zero blocks, compression, predictions, advice", async () => {
    const image = join(scratch.dir, "mixed.img");
    writeMixedImage(image, 48 * 1024 * 1024, 31); // 15% zeros
    const r = await run(["bench", image, "--sample", "16M", "--seconds", "5", "--compress", "lz4", "--change", "5%"]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/read, O_DIRECT \(as sync\) +\d/);
    expect(r.stdout).toMatch(/holes, zero blocks +0\.0% of the volume in holes, \d+\.\d% of the data in zero blocks/);
    expect(r.stdout).toMatch(/predicted for 48\.0 MiB \(64\.0 KiB blocks, --compress lz4\)/);
    expect(r.stdout).toMatch(/full copy +\d+\.\d+ s +bound by/);
    expect(r.stdout).toMatch(/delta, 5% changed +\d+\.\d+ s/);
    expect(r.stdout).toMatch(/advice:\n {2}- full copy:/);
    expect(r.stdout).toMatch(/zero blocks and lz4 ratio estimated from a sample of 16\.0 MiB of 48\.0 MiB/);
  });

  it("refuses bad arguments with exit 2 and a clear message", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--change", "150%"], /--change: expected a percentage from 0% to 100%, such as 1%, got "150%"/],
      [["--seconds", "0"], /--seconds: expected a time limit from 1 to 3600 seconds, got "0"/],
      [["--block-size", "3K"], /--block-size: expected a power of two/],
      [["--to", "/some/path"], /--to: expected tcp:\/\/HOST:PORT\/TARGET-NAME or \[USER@\]HOST:\/PATH/],
      [["--size", "1G", "disk.img"], /--size: expected no VOLUME/],
    ];
    for (const [args, message] of cases) {
      const r = await run(["bench", ...args, "--json"]);
      expect(r.code, args.join(" ")).toBe(EXIT.usage);
      expect(r.stderr).toMatch(message);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: "E_INVALID_ARG" });
    }
  });

  it("--to a receiver on loopback measures round trips, goodput and the target's reads, and writes nothing there", async () => {
    const image = join(scratch.dir, "src.img");
    writeMixedImage(image, 32 * 1024 * 1024, 41);
    const target = join(scratch.dir, "target.img");
    writeFileSync(target, seededBytes(32 * 1024 * 1024, 42));
    const before = sha256(target);
    const stateDir = join(scratch.dir, "state");
    const server = await startServer(["--target", `t=${target}`, "--state-dir", stateDir]);
    servers.push(server);
    const r = await run(["bench", image, "--to", `tcp://127.0.0.1:${server.port}/t`, "--seconds", "5", "--json"]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const report = JSON.parse(r.stdout);
    const network = report.measured.network;
    expect(network).toMatchObject({ transport: "tls", target: { size: 32 * 1024 * 1024, isBlockDevice: false } });
    expect(network.rttSeconds).toBeGreaterThan(0);
    expect(network.goodput.bytesPerSecond).toBeGreaterThan(0);
    expect(network.targetRead.alone.bytesPerSecond).toBeGreaterThan(0);
    expect(network.targetRead.dataBytes).toBe(32 * 1024 * 1024);
    expectPredictions(report);
    expect(report.prediction.fullCopy.stages.map((s: { name: string }) => s.name)).toContain("network");
    expect(sha256(target)).toBe(before);
    expect(existsSync(`${target}.blockferry-state.json`)).toBe(false);
    expect(existsSync(stateDir)).toBe(false);

    const unknown = await run(["bench", image, "--to", `tcp://127.0.0.1:${server.port}/other`, "--seconds", "2"]);
    expect(unknown.code).toBe(EXIT.unknownTarget);
    expect(unknown.stderr).toMatch(/no target named "other" here/);
  });
});
