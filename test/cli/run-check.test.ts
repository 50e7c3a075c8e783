/**
 * `run --check` finds what would fail at 01:30 (issue 21): sources,
 * directories, hook commands, keys and pins; with --connect it reaches each
 * receiver and checks the pin and the allow-list, writing nothing.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run, serversKilledAfterAll, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { testSeed } from "../helpers/random.js";

const scratch = scratchDir();
const servers = serversKilledAfterAll();
afterAll(() => scratch.remove());

describe("run --check", () => {
  it("lists every job's missing source, directory, hook command and pin, and fails (exit 20); a sound job passes", async () => {
    const source = join(scratch.dir, "src.img");
    writeMixedImage(source, 1 << 20, testSeed("run check"));
    mkdirSync(join(scratch.dir, "etc"));
    const file = join(scratch.dir, "jobs.toml");
    writeFileSync(
      file,
      `[job.good]\nsource = "${source}"\ndestination = "${join(scratch.dir, "copy.img")}"\ncreate = true\npre-snapshot = "sync"\n` +
        `[job.bad]\nsource = "${join(scratch.dir, "no-such.img")}"\ndestination = "${join(scratch.dir, "no-dir", "c.img")}"\n` +
        `pre-snapshot = "no-such-command --now"\nwith-dir = ["${join(scratch.dir, "no-etc")}"]\n` +
        `[job.remote]\nsource = "${source}"\ndestination = "tcp://192.0.2.1:7300/pool"\nknown-hosts = "${join(scratch.dir, "etc", "known_hosts")}"\n`,
    );
    const r = await run(["run", "--check", file]);
    expect(r.code, r.stderr).toBe(EXIT.config);
    expect(r.stdout).toMatch(/^good: .*: ok$/m);
    expect(r.stdout).toMatch(/^ {2}source: .*no-such\.img/m);
    expect(r.stdout).toMatch(/^ {2}destination .*c\.img does not exist \(and no create = true\)/m);
    expect(r.stdout).toMatch(/^ {2}destination directory: .*no-dir/m);
    expect(r.stdout).toMatch(/^ {2}pre-snapshot: no command "no-such-command" on PATH/m);
    expect(r.stdout).toMatch(/^ {2}with-dir .*no-etc/m);
    expect(r.stdout).toMatch(/^ {2}known-hosts: no key pinned for 192\.0\.2\.1:7300/m);
    expect(r.stderr).toMatch(/2 of 3 jobs would fail: bad, remote/);
    expect(existsSync(join(scratch.dir, "copy.img"))).toBe(false); // nothing ran
  });

  it("--connect reaches each receiver: the pin and the allow-list checked, an unknown target reported, nothing written", async () => {
    const source = join(scratch.dir, "c-src.img");
    writeMixedImage(source, 1 << 20, testSeed("run check connect"));
    const target = join(scratch.dir, "c-target.img");
    writeFileSync(target, Buffer.alloc(1 << 20, 5));
    const server = await startServer(["--target", `t=${target}`]);
    servers.push(server);
    const file = join(scratch.dir, "connect.toml");
    const url = (name: string) => `tcp://127.0.0.1:${server.port}/${name}`;
    writeFileSync(
      file,
      `[job.ok]\nsource = "${source}"\ndestination = "${url("t")}"\n[job.unknown]\nsource = "${source}"\ndestination = "${url("nope")}"\n`,
    );
    const r = await run(["run", "--check", "--connect", file]);
    expect(r.code, r.stderr).toBe(EXIT.config);
    expect(r.stdout).toMatch(/^ok: .*: ok, receiver reached$/m);
    expect(r.stdout).toMatch(/^ {2}receiver 127\.0\.0\.1:\d+: .*no target named "nope" here; this key may write: t/m);
    expect(existsSync(`${target}.blockferry-state.json`)).toBe(false);
    // A receiver whose key is not the pinned one is refused.
    writeFileSync(join(scratch.dir, "wrong_known_hosts"), `127.0.0.1:${server.port} sha256:${"A".repeat(43)}\n`);
    writeFileSync(
      file,
      `[job.ok]\nsource = "${source}"\ndestination = "${url("t")}"\nknown-hosts = "${join(scratch.dir, "wrong_known_hosts")}"\n`,
    );
    const wrong = await run(["run", "--check", "--connect", file]);
    expect(wrong.code).toBe(EXIT.config);
    expect(wrong.stdout).toMatch(/pins sha256:A+: refusing/);
  });
});
