import { readFileSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { generateHostKey } from "../../src/transport/keys.js";
import { run, start, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";
import { waitFor } from "../helpers/wait.js";

// Receivers started here give up on a stalled TLS handshake after 1 s instead of 10.
process.env.BLOCKFERRY_HANDSHAKE_MS = "1000";
const scratch = scratchDir();
const servers: Array<{ child: import("node:child_process").ChildProcess }> = [];
afterAll(() => {
  for (const s of servers) s.child.kill("SIGKILL");
  scratch.remove();
});

/** Keys for a receiver and two sources; the receiver lets `allowed` write "backup" only. */
async function setUp(name: string) {
  const dir = join(scratch.dir, name);
  const receiver = await generateHostKey(join(dir, "receiver"), "receiver", false);
  const allowed = await generateHostKey(join(dir, "allowed"), "allowed", false);
  const stranger = await generateHostKey(join(dir, "stranger"), "stranger", false);
  const source = join(dir, "src.img");
  const target = join(dir, "backup.img");
  const other = join(dir, "other.img");
  writeMixedImage(source, 8 * 1024 * 1024, 61);
  writeFileSync(target, seededBytes(8 * 1024 * 1024, 62));
  writeFileSync(other, seededBytes(8 * 1024 * 1024, 63));
  const server = await startServer([
    "--key-dir",
    join(dir, "receiver"),
    "--allow",
    `${allowed.fingerprint}=backup`,
    "--target",
    `backup=${target}`,
    "--target",
    `other=${other}`,
  ]);
  servers.push(server);
  const url = (t: string) => `tcp://127.0.0.1:${server.port}/${t}`;
  const sync = (keyDir: string, dest: string, extra: string[] = []) =>
    run(["sync", "--key-dir", join(dir, keyDir), "--json", ...extra, source, dest]);
  const before = { target: sha256(target), other: sha256(other) };
  const unchanged = () => sha256(target) === before.target && sha256(other) === before.other;
  return { dir, receiver, allowed, stranger, source, target, server, url, sync, unchanged };
}

describe("keys and mutual TLS", () => {
  it("keygen makes a private key only its owner reads, prints its fingerprint, and will not overwrite it", async () => {
    const dir = join(scratch.dir, "keygen");
    const made = await run(["keygen", "--key-dir", dir]);
    expect(made.code).toBe(EXIT.ok);
    expect(made.stdout.trim()).toMatch(/^sha256:[A-Za-z0-9+/]{43}$/);
    expect(statSync(join(dir, "key.pem")).mode & 0o777).toBe(0o600);
    const shown = await run(["keygen", "--show", "--key-dir", dir]);
    expect(shown.stdout).toBe(made.stdout);
    const again = await run(["keygen", "--key-dir", dir]);
    expect(again.code).toBe(EXIT.usage);
    expect(again.stderr).toMatch(/exists already; --force replaces it/);
  });

  it("pins an unknown receiver only when told to, then refuses one whose key changed", async () => {
    const s = await setUp("pinning");
    const unknown = await s.sync("allowed", s.url("backup"));
    expect(unknown.code).toBe(EXIT.auth);
    expect(unknown.stderr).toContain(s.receiver.fingerprint);
    expect(unknown.stderr).toMatch(/--trust-new-host/);
    expect(s.unchanged()).toBe(true);

    const pinned = await s.sync("allowed", s.url("backup"), ["--trust-new-host"]);
    expect(pinned.code, pinned.stderr).toBe(EXIT.ok);
    expect(sha256(s.target)).toBe(sha256(s.source));
    const again = await s.sync("allowed", s.url("backup")); // pinned now: no flag needed
    expect(again.code, again.stderr).toBe(EXIT.ok);

    // The receiver's address now answers with another key (an impostor, as far as the source knows).
    s.server.child.kill("SIGKILL");
    await generateHostKey(join(s.dir, "receiver"), "replaced", true);
    const before = sha256(s.target);
    const replaced = await startServer([
      "--key-dir",
      join(s.dir, "receiver"),
      "--allow",
      `${s.allowed.fingerprint}=backup`,
      "--target",
      `backup=${s.target}`,
    ]);
    servers.push(replaced);
    writeFileSync(join(s.dir, "allowed", "known_hosts"), `127.0.0.1:${replaced.port} ${s.receiver.fingerprint}\n`);
    const refused = await s.sync("allowed", `tcp://127.0.0.1:${replaced.port}/backup`);
    expect(refused.code).toBe(EXIT.auth);
    expect(refused.stderr).toMatch(/pins sha256:/);
    expect(sha256(s.target)).toBe(before);
  });
});

describe("a receiver lets no one write who does not belong, and goes on serving", () => {
  it("refuses a key it does not know, and a known key asking for a target it may not write", async () => {
    const s = await setUp("refusals");
    for (const who of ["allowed", "stranger"]) {
      writeFileSync(join(s.dir, who, "known_hosts"), `127.0.0.1:${s.server.port} ${s.receiver.fingerprint}\n`);
    }
    const stranger = await s.sync("stranger", s.url("backup"));
    expect(stranger.code).toBe(EXIT.auth);
    expect(stranger.stderr).toContain(`key ${s.stranger.fingerprint} is not allowed here`);
    const other = await s.sync("allowed", s.url("other"));
    expect(other.code).toBe(EXIT.auth);
    expect(other.stderr).toMatch(/may not write target "other"/);
    expect(s.unchanged()).toBe(true);
    await waitFor(() => /refused: key sha256:\S+ is not allowed here/.test(s.server.log()), "the stranger in the log");
    await waitFor(() => /refused or failed: E_AUTH: key \S+ may not write target "other"/.test(s.server.log()), "log");
    expect(s.server.log()).toMatch(/127\.0\.0\.1:\d+: refused/); // the peer's address
    // Still serving: the allowed key and target work.
    const ok = await s.sync("allowed", s.url("backup"));
    expect(ok.code, ok.stderr).toBe(EXIT.ok);
  });

  it("refuses garbage before the handshake, a handshake cut short, and garbage after it", async () => {
    const seed = testSeed("tls garbage");
    const s = await setUp("garbage");
    /** Sends `bytes`, then waits (up to 5 s) for the receiver to hang up; resolves with how long that took. */
    const raw = (bytes: Buffer) =>
      new Promise<number>((resolve) => {
        const started = Date.now();
        const socket = connect(s.server.port, "127.0.0.1", () => socket.write(bytes));
        const giveUp = setTimeout(() => socket.destroy(), 5000);
        socket.on("error", () => {});
        // Read what the receiver says (a TLS alert, for some garbage): unread, it would hold back our 'end'.
        socket.resume();
        socket.on("close", () => {
          clearTimeout(giveUp);
          resolve(Date.now() - started);
        });
      });
    expect(await raw(seededBytes(300, seed))).toBeLessThan(4000);
    // A real ClientHello, cut after its first 40 bytes, then silence: the receiver hangs up by
    // itself after its handshake timeout (shortened to 1 s here), well before our 5 s.
    const hungUpAfter = await raw(
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...seededBytes(29, seed + 1)]),
    );
    expect(hungUpAfter).toBeGreaterThanOrEqual(900);
    expect(hungUpAfter).toBeLessThan(4000);
    await waitFor(() => /refused: TLS handshake failed: /.test(s.server.log()), "the garbage");
    await waitFor(() => /refused: not authenticated within 1 s/.test(s.server.log()), "the stalled handshake");
    // An allowed key, a good handshake, then bytes that are not the protocol.
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: s.server.port,
        key: readFileSync(join(s.dir, "allowed", "key.pem")),
        cert: readFileSync(join(s.dir, "allowed", "cert.pem")),
        rejectUnauthorized: false,
      });
      socket.on("secureConnect", () => socket.write(seededBytes(5000, seed + 2)));
      socket.on("close", () => resolve()).on("error", () => resolve());
      setTimeout(() => socket.destroy(), 2000);
    });
    await waitFor(() => /refused or failed: E_PROTOCOL/.test(s.server.log()), "the protocol refusal");
    // A TLS client that shows no key at all.
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: "127.0.0.1", port: s.server.port, rejectUnauthorized: false });
      socket.on("secureConnect", () => socket.write(seededBytes(100, seed + 3)));
      socket.on("close", () => resolve()).on("error", () => resolve());
      setTimeout(() => socket.destroy(), 2000);
    });
    await waitFor(() => /refused: no client key presented/.test(s.server.log()), "the keyless client refused");
    expect(s.unchanged()).toBe(true);
  });

  it("refuses a second writer of a target while the first is writing", async () => {
    const s = await setUp("two-writers");
    writeMixedImage(s.source, 64 * 1024 * 1024, 64);
    writeFileSync(join(s.dir, "allowed", "known_hosts"), `127.0.0.1:${s.server.port} ${s.receiver.fingerprint}\n`);
    const args = ["sync", "--key-dir", join(s.dir, "allowed"), "--bwlimit", "1M", s.source, s.url("backup")];
    const first = start(args);
    await waitFor(() => /comparing with|receiving/.test(s.server.log()), "the first writer");
    const second = await s.sync("allowed", s.url("backup"));
    expect(second.code).toBe(EXIT.busy);
    expect(second.stderr).toMatch(/being written by another connection/);
    first.kill("SIGKILL");
    await waitFor(() => (s.server.log().match(/refused or failed/g) ?? []).length >= 2, "the first writer gone");
    // A second process writing the same image file directly is refused too (a lock on the file).
    writeFileSync(s.target, seededBytes(64 * 1024 * 1024, 67)); // all of it to be sent again, slowly
    const lockFirst = start(["sync", "--bwlimit", "1M", s.source, s.target], { BLOCKFERRY_STATUS_SECONDS: "0.2" });
    let progress = "";
    lockFirst.stderr?.on("data", (d: Buffer) => {
      progress += d.toString();
    });
    await waitFor(() => /sync: /.test(progress), "the first local writer under way"); // it holds the lock by then
    const lockSecond = await run(["sync", s.source, s.target]);
    lockFirst.kill("SIGKILL");
    const firstOut = await lockFirst.output();
    expect(lockSecond.code, `${lockSecond.stderr}\nfirst: ${firstOut.stderr}`).toBe(EXIT.busy);
    expect(lockSecond.stderr).toMatch(/being written by another writer/);
  });
});

describe("--insecure-plaintext still proves a shared secret both ways", () => {
  it("syncs with the secret, refuses without it, and warns", async () => {
    const source = join(scratch.dir, "plain-src.img");
    const target = join(scratch.dir, "plain-dst.img");
    writeMixedImage(source, 4 * 1024 * 1024, 65);
    writeFileSync(target, seededBytes(4 * 1024 * 1024, 66));
    const secret = join(scratch.dir, "secret");
    const wrong = join(scratch.dir, "wrong-secret");
    writeFileSync(secret, "correct horse battery staple\n");
    writeFileSync(wrong, "incorrect horse battery staple\n");
    const server = await startServer(["--insecure-plaintext", "--secret-file", secret, "--target", `backup=${target}`]);
    servers.push(server);
    expect(server.log()).toMatch(/WARNING: --insecure-plaintext/);
    const before = sha256(target);
    const url = `tcp://127.0.0.1:${server.port}/backup`;
    const bad = await run(["sync", "--insecure-plaintext", "--secret-file", wrong, source, url]);
    expect(bad.code).toBe(EXIT.auth);
    const tls = await run(["sync", "--trust-new-host", source, url]);
    expect(tls.code).toBe(EXIT.network);
    expect(tls.stderr).toMatch(/does the receiver run with --insecure-plaintext\?/);
    expect(sha256(target)).toBe(before);
    await waitFor(() => /refused: the source does not hold the shared secret/.test(server.log()), "the refusal");
    const good = await run(["sync", "--insecure-plaintext", "--secret-file", secret, source, url]);
    expect(good.code, good.stderr).toBe(EXIT.ok);
    expect(good.stderr).toMatch(/WARNING: --insecure-plaintext/);
    expect(sha256(target)).toBe(sha256(source));
  });
});
