import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run, start, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes, seededInts, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
const servers: Array<{ child: ChildProcess }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill("SIGKILL");
});
afterAll(() => scratch.remove());

function state(path: string): { complete: boolean; verified: boolean; blocksDone: number } {
  return JSON.parse(readFileSync(`${path}.blockferry-state.json`, "utf8")).state;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("blockferry sync over TCP", () => {
  it("copies to a named target, reports JSON, and refuses names it does not serve", async () => {
    const source = join(scratch.dir, "a.img");
    const target = join(scratch.dir, "a-copy.img");
    const data = writeMixedImage(source, 24 * 1024 * 1024 + 100, 21);
    writeFileSync(target, "");
    const server = await startServer(["--target", `backup=${target}`]);
    servers.push(server);
    const ok = await run(["sync", "--json", "--compress", "lz4", source, `tcp://127.0.0.1:${server.port}/backup`]);
    expect(ok.code).toBe(EXIT.ok);
    const summary = JSON.parse(ok.stdout);
    expect(summary).toMatchObject({ ok: true, verified: true, bytes: { total: data.length } });
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(state(target)).toMatchObject({ complete: true, verified: true });

    const before = sha256(target);
    const unknown = await run(["sync", "--json", source, `tcp://127.0.0.1:${server.port}/other`]);
    expect(unknown.code).toBe(EXIT.unknownTarget);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ ok: false, code: "E_UNKNOWN_TARGET" });
    expect(unknown.stderr).toMatch(/no target named "other" here; this key may write: backup/);
    expect(sha256(target)).toBe(before);
    await waitFor(() => /refused or failed: E_UNKNOWN_TARGET/.test(server.log()), "the refusal in the log");
  });

  it("reads a local source named with a colon and no slash (only host:/path is remote)", async () => {
    // A bare name, as typed in its own directory: the CLI runs in the repository's root.
    const name = `blockferry-test-${process.pid}:1.img`;
    const source = join(import.meta.dirname, "..", "..", name);
    const target = join(scratch.dir, "disk-copy.img");
    try {
      const data = writeMixedImage(source, 2 * 1024 * 1024, 23);
      const r = await run(["sync", "--create", name, target]);
      expect(r.code, r.stderr).toBe(EXIT.ok);
      expect(readFileSync(target).equals(data)).toBe(true);
    } finally {
      rmSync(source, { force: true });
    }
  });

  it("refuses tcp:// as SOURCE and a scheme it does not know, saying why, without trying ssh", async () => {
    const source = join(scratch.dir, "url.img");
    writeMixedImage(source, 1024 * 1024, 23);
    const local = join(scratch.dir, "url-copy.img");
    const swapped = await run(["sync", "--create", "tcp://127.0.0.1:7300/pool", local]);
    expect(swapped.code).toBe(EXIT.usage);
    expect(swapped.stderr).toMatch(
      /SOURCE: .*tcp:\/\/HOST:PORT\/NAME is only a destination.*did you swap SOURCE and DEST\?/,
    );
    expect(swapped.stderr).not.toMatch(/ssh: |Could not resolve/); // no ssh was started
    for (const [dest, hint] of [
      [
        "tpc://127.0.0.1:7300/pool",
        /"tpc:\/\/" is no scheme blockferry knows \(did you mean tcp:\/\/127\.0\.0\.1:7300\/pool\?\)/,
      ],
      ["ssh://host/x.img", /"ssh:\/\/" is no scheme .*\[USER@\]HOST:\/PATH/],
    ] as const) {
      const r = await run(["sync", source, dest]);
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toMatch(hint);
      expect(r.stderr).not.toMatch(/ssh: |Could not resolve/);
    }
    expect(existsSync(local)).toBe(false);
  });

  it("refuses --snapshot lvm with a remote SOURCE before any hook, lvs or ssh runs", async () => {
    const dest = join(scratch.dir, "pulled.img");
    const hookRan = join(scratch.dir, "pre-snapshot-ran");
    const r = await run([
      "sync",
      "--snapshot",
      "lvm",
      "--pre-snapshot",
      `touch ${hookRan}`,
      "--create",
      "primary:/dev/vg/pool",
      dest,
    ]);
    expect(r.code, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toMatch(
      /--snapshot lvm: expected a local LV as SOURCE \(run the sync on primary, pushing to this host\), got "primary:\/dev\/vg\/pool"/,
    );
    expect(r.stderr).not.toMatch(/\$ lvs|ssh: |Could not resolve/);
    expect(existsSync(hookRan)).toBe(false);
    expect(existsSync(dest)).toBe(false);
  });

  it("refuses a missing target, and leaves nothing behind", async () => {
    const source = join(scratch.dir, "m.img");
    writeMixedImage(source, 1024 * 1024, 22);
    const missing = join(scratch.dir, "missing.img");
    const server = await startServer(["--target", `backup=${missing}`]);
    servers.push(server);
    const r = await run(["sync", source, `tcp://127.0.0.1:${server.port}/backup`]);
    expect(r.code).toBe(EXIT.notFound);
    expect(r.stderr).toMatch(/target "backup": ".*missing\.img" does not exist; start the receiver with --create/);
    const local = await run(["sync", source, missing]);
    expect(local.code).toBe(EXIT.notFound);
    // The path as given and the way out; never the internal name of a local target (local_...).
    expect(local.stderr).toMatch(/DEST ".*missing\.img" does not exist; pass --create to create it/);
    expect(local.stderr).not.toMatch(/local[_-]/);
    const nowhere = await run(["sync", "--create", source, join(scratch.dir, "no-dir", "x.img")]);
    expect(nowhere.code).toBe(EXIT.notFound);
    expect(nowhere.stderr).toMatch(/the directory ".*no-dir" does not exist/);
    expect(nowhere.stderr).not.toMatch(/local[_-]/);
    expect(() => readFileSync(missing)).toThrow();
  });

  it("makes a copy deleted since its last sync again with --create: its record is of a volume that is gone", async () => {
    const source = join(scratch.dir, "gone-src.img");
    const copy = join(scratch.dir, "gone-copy.img");
    writeMixedImage(source, 2 * 1024 * 1024, 23);
    const first = await run(["sync", "-q", "--create", source, copy]);
    expect(first.code, first.stderr).toBe(EXIT.ok);
    rmSync(copy); // the state file beside it stays, recording a complete copy
    const again = await run(["sync", "-q", "--create", source, copy]);
    expect(again.code, again.stderr).toBe(EXIT.ok);
    expect(sha256(copy)).toBe(sha256(source));
  });

  for (const victim of ["source", "target"] as const) {
    it(`resumes after kill -9 of the ${victim} at a random point`, async () => {
      const seed = testSeed(`kill ${victim}`);
      const pick = seededInts(seed);
      const source = join(scratch.dir, `k-${victim}.img`);
      const target = join(scratch.dir, `k-${victim}-copy.img`);
      const data = seededBytes(160 * 1024 * 1024, seed);
      writeFileSync(source, data);
      writeFileSync(target, "");
      const serveArgs = ["--target", `backup=${target}`, "--checkpoint", "16M"];
      let server = await startServer(serveArgs);
      servers.push(server);
      const dest = () => `tcp://127.0.0.1:${server.port}/backup`;
      // Slowed to about 3 s so that the kill lands mid-copy.
      const first = start(["sync", "--bwlimit", "50M", source, dest()], { BLOCKFERRY_STATUS_SECONDS: "0.2" });
      const killAtBytes = (16 + pick(96)) * 1024 * 1024;
      let progress = "";
      first.stderr?.on("data", (d: Buffer) => {
        progress += d.toString();
      });
      await waitFor(() => {
        const m = [...progress.matchAll(/sent ([\d.]+) MiB/g)].at(-1);
        return m !== undefined && Number(m[1]) * 1024 * 1024 >= killAtBytes;
      }, "the copy to pass the kill point");
      (victim === "source" ? first : server.child).kill("SIGKILL");
      const interrupted = await first.output();
      expect(interrupted.code).not.toBe(EXIT.ok);
      if (victim === "target") {
        server = await startServer(serveArgs);
        servers.push(server);
      }
      expect(state(target).complete).toBe(false); // marked incomplete until the new sync ends
      expect(state(target).blocksDone).toBeGreaterThan(0);
      const again = await run(["sync", "--json", source, dest()]);
      expect(again.code).toBe(EXIT.ok);
      const summary = JSON.parse(again.stdout);
      expect(summary.bytes.resumedFrom, server.log()).toBeGreaterThan(0);
      expect(readFileSync(target).equals(data)).toBe(true);
      expect(state(target)).toMatchObject({ complete: true, verified: true });
    });
  }
});
