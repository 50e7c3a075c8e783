import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
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
    // The remote receiver records each sync beside the target's state, as `serve` does (issue 21).
    const history = readFileSync(`${target}.blockferry-history.jsonl`, "utf8").trim().split("\n");
    const served = history.map((line) => JSON.parse(line));
    expect(served.map((e) => [e.ok, e.mode])).toEqual([
      [true, "copy"],
      [true, "cached"], // the receiver's own word for the delta: the source sent digests from its cache
    ]);
    expect(served[0]).toMatchObject({ destination: target, peer: "ssh 127.0.0.1" });
    // What the receiver counted in is what the source counted out (compressed, so under the image's size).
    const sent = JSON.parse(first.stdout).bytes.wire;
    expect(sent).toBeGreaterThan(1024 * 1024);
    expect(Math.abs(served[0].bytesReceived - sent)).toBeLessThan(sent / 100);
    const shown = await run(["status", "--history", target]);
    expect(shown.code, shown.stderr).toBe(EXIT.ok);
    const lines = shown.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`${target} from ssh 127.0.0.1`);
    expect(lines[0]).toMatch(/ok \(copy\)$/);
    expect(lines[1]).toMatch(/ok \(cached\)$/);
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

/** Every name under `dir`, with its size: what a check must leave as it found it. */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => `${name} ${statSync(join(dir, name)).size}`)
    .sort();
}

describe.skipIf(skipReason !== undefined)("run --check --connect, to ssh destinations", () => {
  it("reaches each host, runs its blockferry and checks the path; a refused login fails the check (exit 20); nothing written", async () => {
    const source = join(scratch.dir, "check-src.img");
    writeMixedImage(source, 1024 * 1024, testSeed("run check ssh"));
    const remoteDir = join(scratch.dir, "check-remote");
    mkdirSync(remoteDir);
    const existing = join(remoteDir, "existing.img");
    writeFileSync(existing, seededBytes(1024 * 1024, 75));
    const rsh = sshd?.rsh ?? "ssh";
    const wrongKey = rsh.replace(/-i \S+/, `-i ${join(scratch.dir, "sshd", "host_key")}`); // a key it does not accept
    const wrongPort = rsh.replace(/-p \d+/, "-p 2223"); // nothing listens there
    const job = (name: string, dest: string, more: string) =>
      `[job.${name}]\nsource = "${source}"\ndestination = "root@127.0.0.1:${dest}"\n` +
      `rsh = "${rsh}"\nremote-path = "${remotePath}"\n${more}`;
    const file = join(scratch.dir, "check-ssh.toml");
    writeFileSync(
      file,
      job("fresh", join(remoteDir, "new.img"), "create = true\n") +
        job("existing", existing, "") +
        job("key", existing, "").replace(`rsh = "${rsh}"`, `rsh = "${wrongKey}"`) +
        job("port", existing, "").replace(`rsh = "${rsh}"`, `rsh = "${wrongPort}"`) +
        job("absent", join(remoteDir, "absent.img"), "") +
        job("nodir", join(remoteDir, "no-dir", "x.img"), "create = true\n") +
        job("noblockferry", existing, "").replace(`remote-path = "${remotePath}"`, 'remote-path = "/opt/nowhere/bf"'),
    );
    const before = listing(remoteDir);
    const existingSum = sha256(existing);
    const r = await run(["run", "--check", "--connect", file]);
    expect(r.code, r.stderr).toBe(EXIT.config);
    expect(r.stdout).toMatch(/^fresh: .*new\.img: ok, receiver reached$/m);
    expect(r.stdout).toMatch(/^existing: .*existing\.img: ok, receiver reached$/m);
    expect(r.stdout).toMatch(
      /^key: .*\n {2}receiver root@127\.0\.0\.1 \(ssh\): ssh to root@127\.0\.0\.1 failed: .*Permission denied/m,
    );
    expect(r.stdout).toMatch(
      /^port: .*\n {2}receiver root@127\.0\.0\.1 \(ssh\): ssh to root@127\.0\.0\.1 failed: .*Connection refused/m,
    );
    expect(r.stdout).toMatch(
      /^absent: .*\n {2}receiver root@127\.0\.0\.1 \(ssh\): .*absent\.img" does not exist; pass --create/m,
    );
    expect(r.stdout).toMatch(
      /^nodir: .*\n {2}receiver root@127\.0\.0\.1 \(ssh\): .*the directory ".*no-dir" does not exist/m,
    );
    expect(r.stdout).toMatch(
      /^noblockferry: .*\n {2}receiver root@127\.0\.0\.1 \(ssh\): .*has no blockferry at "\/opt\/nowhere\/bf"/m,
    );
    expect(r.stderr).toMatch(/5 of 7 jobs would fail: key, port, absent, nodir, noblockferry/);
    expect(listing(remoteDir)).toEqual(before); // no image created, no state, no history
    expect(sha256(existing)).toBe(existingSum);
  });
});
