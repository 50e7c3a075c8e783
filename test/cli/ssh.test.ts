import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run } from "../helpers/cli.js";
import { scatter, writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";
import { type Sshd, sshdUnavailable, startSshd } from "../helpers/sshd.js";

const skipReason = sshdUnavailable();
if (skipReason) console.log(`ssh tests skipped: ${skipReason}`);
const scratch = scratchDir();
const root = join(import.meta.dirname, "..", "..");
/** The remote blockferry: this checkout, from its TypeScript sources. */
const remotePath = `cd ${root} && ${process.execPath} --import tsx src/cli/main.ts`;
let sshd: Sshd | undefined;

beforeAll(async () => {
  if (!skipReason) sshd = await startSshd(join(scratch.dir, "sshd"));
}, 30_000);
afterAll(() => {
  sshd?.stop();
  scratch.remove();
});

const overSsh = (extra: string[], source: string, dest: string) =>
  run(["sync", "--json", "--rsh", sshd?.rsh ?? "ssh", ...extra, source, `root@127.0.0.1:${dest}`]);

describe.skipIf(skipReason !== undefined)("sync over ssh, to a real OpenSSH server", () => {
  it("copies, then syncs a delta, through `blockferry receive --stdio` on the remote host", async () => {
    const seed = testSeed("ssh copy");
    const source = join(scratch.dir, "src.img");
    const target = join(scratch.dir, "copy.img");
    writeMixedImage(source, 16 * 1024 * 1024 + 4096, seed);
    const first = await overSsh(["--remote-path", remotePath, "--create"], source, target);
    expect(first.code, first.stderr).toBe(EXIT.ok);
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    expect(JSON.parse(first.stdout)).toMatchObject({ mode: "copy", verified: true });
    scatter(source, 10, seed + 1);
    const second = await overSsh(["--remote-path", remotePath], source, target);
    expect(second.code, second.stderr).toBe(EXIT.ok);
    expect(JSON.parse(second.stdout)).toMatchObject({ mode: "delta", verified: true });
    expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    // The remote receiver's messages come back on this side's stderr, named by host.
    expect(second.stderr).toMatch(/root@127\.0\.0\.1: .*updating|root@127\.0\.0\.1: .*comparing/);
  });

  it("pulls from a remote source (failback by ssh): a copy, then a delta, into a local image", async () => {
    const seed = testSeed("ssh pull");
    const remoteImage = join(scratch.dir, "remote-primary.img");
    const local = join(scratch.dir, "local-copy.img");
    writeMixedImage(remoteImage, 12 * 1024 * 1024 + 512, seed);
    // The remote keeps its digest cache here, not in the system's directory.
    const remote = `cd ${root} && BLOCKFERRY_CACHE_DIR=${join(scratch.dir, "remote-cache")} ${process.execPath} --import tsx src/cli/main.ts`;
    const pull = (extra: string[]) =>
      run([
        "sync",
        "--json",
        "--rsh",
        sshd?.rsh ?? "ssh",
        "--remote-path",
        remote,
        ...extra,
        `root@127.0.0.1:${remoteImage}`,
        local,
      ]);
    const first = await pull(["--create"]);
    expect(first.code, first.stderr).toBe(EXIT.ok);
    expect(JSON.parse(first.stdout)).toMatchObject({ mode: "copy", verified: true });
    expect(readFileSync(local).equals(readFileSync(remoteImage))).toBe(true);
    scatter(remoteImage, 8, seed + 1);
    const second = await pull([]);
    expect(second.code, second.stderr).toBe(EXIT.ok);
    expect(JSON.parse(second.stdout)).toMatchObject({ mode: "delta", verified: true });
    expect(readFileSync(local).equals(readFileSync(remoteImage))).toBe(true);
    const tcp = await run(["sync", `root@127.0.0.1:${remoteImage}`, "tcp://127.0.0.1:1/x"]);
    expect(tcp.code).toBe(EXIT.usage);
    expect(tcp.stderr).toMatch(/expected a local path when the source is remote/);
  });

  it("a remote without blockferry gives one clear error, and nothing is written", async () => {
    const source = join(scratch.dir, "src2.img");
    const target = join(scratch.dir, "untouched.img");
    writeMixedImage(source, 1024 * 1024, 71);
    writeFileSync(target, seededBytes(1024 * 1024, 72));
    const before = sha256(target);
    const r = await overSsh(["--remote-path", "/opt/nowhere/blockferry"], source, target);
    expect(r.code).toBe(EXIT.notFound);
    expect(r.stderr).toMatch(/has no blockferry at "\/opt\/nowhere\/blockferry".*--remote-path/);
    expect(sha256(target)).toBe(before);
  });

  it("a remote speaking another protocol version is refused as such", async () => {
    const source = join(scratch.dir, "src3.img");
    writeMixedImage(source, 1024 * 1024, 73);
    // A stand-in remote that answers HELLO with a WELCOME of protocol version 9.
    const fake = `${process.execPath} -e 'process.stdout.write(Buffer.from([0,0,0,3,2,0,9]));process.stdin.resume()' --`;
    const r = await overSsh(["--remote-path", fake], source, join(scratch.dir, "v9.img"));
    expect(r.code).toBe(EXIT.protocol);
    expect(r.stderr).toMatch(/protocol version 9/);
  });

  it("ssh refusing the login is a network error that says so", async () => {
    const source = join(scratch.dir, "src4.img");
    writeMixedImage(source, 1024 * 1024, 74);
    const rsh = (sshd?.rsh ?? "").replace(/-i \S+/, `-i ${join(scratch.dir, "sshd", "host_key")}`); // a key it does not accept
    const r = await run([
      "sync",
      "--rsh",
      rsh,
      "--remote-path",
      remotePath,
      source,
      `root@127.0.0.1:${join(scratch.dir, "x.img")}`,
    ]);
    expect(r.code).toBe(EXIT.network);
    expect(r.stderr).toMatch(/ssh to root@127\.0\.0\.1 failed: .*Permission denied/);
  });
});
