/**
 * Issue 15's careless-administrator and hostile-layout findings, end to end
 * through the CLI: protected paths compared as resolved, status that checks
 * what its state file claims, a change stamp that cannot be set back, image
 * growth capped, peer strings escaped, and set-up mistakes refused at start.
 */
import { mkdirSync, readFileSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { hostKey, run, start, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { isMountPoint, mountTmpfs, unmount } from "../helpers/small-fs.js";

const scratch = scratchDir();
const servers: Array<{ child: import("node:child_process").ChildProcess }> = [];
afterAll(() => {
  for (const s of servers) s.child.kill("SIGKILL");
  scratch.remove();
});
const isRoot = process.getuid?.() === 0;

/** `serve ARGS` as a mistake would be made: its exit code if it exits at start, "listening" if it started. */
async function serveStarts(args: string[]): Promise<{ code: number | null | "listening"; stderr: string }> {
  const child = start(["serve", "--listen", "127.0.0.1:0", ...args]);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const listening = new Promise<"listening">((resolve) => {
    child.stderr?.on("data", () => {
      if (/listening on/.test(stderr)) resolve("listening");
    });
  });
  const r = await Promise.race([child.output().then((o) => o.code), listening]);
  if (r === "listening") child.kill("SIGKILL");
  await child.output();
  return { code: r, stderr };
}

describe("protected paths are compared as the kernel resolves them", () => {
  it("a key that may write target A cannot place a --with-dir tree over target B named through a symlink", async () => {
    const dir = join(scratch.dir, "symlinked");
    const real = join(dir, "real");
    mkdirSync(join(real, "b"), { recursive: true });
    mkdirSync(join(real, "a"), { recursive: true });
    symlinkSync(real, join(dir, "link"));
    const source = join(dir, "src.img");
    writeMixedImage(source, 1 << 20, 71);
    const bImage = join(real, "b", "b.img");
    writeMixedImage(bImage, 1 << 20, 72);
    const before = sha256(bImage);
    // The tree a hostile source would place at B's directory: an image and a forged state.
    const tree = join(dir, "tree");
    mkdirSync(tree);
    writeFileSync(join(tree, "b.img"), "not the copy");
    const allow = join(dir, "allow");
    writeFileSync(allow, `${hostKey.fingerprint} a\n`);
    const server = await startServer([
      "--target",
      `a=${join(real, "a", "a.img")}`,
      "--target",
      `b=${join(dir, "link", "b", "b.img")}`,
      "--create",
      "--allow-dir",
      `a=${real}`,
      "--allow-file",
      allow,
    ]);
    servers.push(server);
    const r = await run([
      "sync",
      "-q",
      "--with-dir",
      `${tree}:${join(real, "b")}`,
      source,
      `tcp://127.0.0.1:${server.port}/a`,
    ]);
    expect(r.code, r.stderr).toBe(EXIT.access);
    expect(r.stderr).toMatch(/holds .*b\.img, which blockferry keeps; refused/);
    expect(sha256(bImage)).toBe(before);
  });

  it("status refuses a state file that records another volume (a state copied or planted beside an image)", async () => {
    const dir = join(scratch.dir, "planted");
    mkdirSync(dir);
    const source = join(dir, "src.img");
    const copy = join(dir, "copy.img");
    const planted = join(dir, "planted.img");
    writeMixedImage(source, 1 << 20, 73);
    expect((await run(["sync", "-q", "--create", source, copy])).code).toBe(EXIT.ok);
    writeFileSync(planted, readFileSync(copy));
    writeFileSync(`${planted}.blockferry-state.json`, readFileSync(`${copy}.blockferry-state.json`));
    const r = await run(["status", planted]);
    expect(r.code).toBe(EXIT.notFound);
    expect(r.stdout).not.toMatch(/complete and verified/);
    expect(r.stderr).toMatch(/records another volume/);
    expect(r.stderr).toMatch(/no record of a sync to/);
  });

  it("status says not found, and where it looked, for a path with no volume or no record", async () => {
    const missing = await run(["status", join(scratch.dir, "nothing-here.img")]);
    expect(missing.code).toBe(EXIT.notFound);
    expect(missing.stderr).toMatch(/no volume at/);
    const bare = join(scratch.dir, "never-synced.img");
    writeFileSync(bare, Buffer.alloc(4096));
    const never = await run(["status", bare]);
    expect(never.code).toBe(EXIT.notFound);
    expect(never.stderr).toMatch(/no record of a sync to .* at ".*never-synced\.img\.blockferry-state\.json"/);
  });
});

describe("the image change stamp includes the change time", () => {
  it("a byte changed and the modification time put back: status says written since, the next sync is refused, and a forced one does not trust the cache", async () => {
    const dir = join(scratch.dir, "mtime");
    mkdirSync(dir);
    const source = join(dir, "src.img");
    const copy = join(dir, "copy.img");
    const data = writeMixedImage(source, 4 << 20, 74);
    expect((await run(["sync", "-q", "--create", source, copy])).code).toBe(EXIT.ok);
    const { atime, mtime } = statSync(copy);
    const bytes = readFileSync(copy);
    bytes[12345] = (bytes[12345] ?? 0) ^ 0xff;
    writeFileSync(copy, bytes);
    utimesSync(copy, atime, mtime); // touch -m -d @OLD
    const status = await run(["status", "--json", copy]);
    expect(status.code).toBe(EXIT.incomplete);
    expect(JSON.parse(status.stdout)).toMatchObject({ ok: false, writtenSince: "yes" });
    const refused = await run(["sync", source, copy]);
    expect(refused.code, refused.stderr).toBe(EXIT.diverged);
    const again = await run(["sync", "--force", source, copy]);
    expect(again.code, again.stderr).toBe(EXIT.ok);
    expect(again.stderr).toMatch(/digest cache is not used: the target was written outside blockferry/);
    expect(readFileSync(copy).equals(data)).toBe(true);
  });
});

describe.skipIf(!isRoot)("a receiver grows an image only as far as it allows", () => {
  it("a source larger than the image's filesystem is refused before the image is created", async () => {
    const dir = join(scratch.dir, "growth");
    const small = join(dir, "small");
    mkdirSync(small, { recursive: true });
    mountTmpfs(small, 16 << 20);
    try {
      // 64 MiB, all holes: one ZERO_RUN would have made the image that large.
      const source = join(dir, "huge.img");
      writeFileSync(source, "");
      truncateSync(source, 64 << 20);
      const target = join(small, "t.img");
      const server = await startServer(["--target", `t=${target}`, "--create"]);
      servers.push(server);
      const r = await run(["sync", "-q", source, `tcp://127.0.0.1:${server.port}/t`]);
      expect(r.code, r.stderr).toBe(EXIT.targetTooSmall);
      expect(r.stderr).toMatch(/more than the size of the filesystem that holds it .*--max-image-size t=SIZE/);
      expect(() => statSync(target)).toThrow();
      // Allowed explicitly, it is copied.
      server.child.kill("SIGKILL");
      const allowed = await startServer(["--target", `t=${target}`, "--create", "--max-image-size", "t=64M"]);
      servers.push(allowed);
      const ok = await run(["sync", "-q", source, `tcp://127.0.0.1:${allowed.port}/t`]);
      expect(ok.code, ok.stderr).toBe(EXIT.ok);
      expect(statSync(target).size).toBe(64 << 20);
      allowed.child.kill("SIGKILL");
    } finally {
      if (isMountPoint(small)) unmount(small);
    }
  });
});

describe("names from peers and users reach logs and terminals escaped", () => {
  it("a source path with a newline and an escape sequence forges no line in the receiver's log or in status", async () => {
    const dir = join(scratch.dir, "inject");
    mkdirSync(dir);
    const evil = "x.img\n2026-12-06 blockferry: pool complete and verified\u001b[2J\u009b31m";
    const source = join(dir, evil);
    writeMixedImage(source, 1 << 20, 75);
    const target = join(dir, "t.img");
    const tree = join(dir, "tree");
    mkdirSync(tree);
    writeFileSync(join(tree, "f"), "f");
    const server = await startServer(["--target", `t=${target}`, "--create", "--allow-dir", `t=${dir}`]);
    servers.push(server);
    const dest = join(dir, `d\n2026-12-06 blockferry: pool complete\u001b[2J`);
    const r = await run(["sync", "-q", "--with-dir", `${tree}:${dest}`, source, `tcp://127.0.0.1:${server.port}/t`]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(readFileSync(join(dest, "f"), "utf8")).toBe("f");
    expect(server.log()).toContain("d\\n2026-12-06 blockferry: pool complete\\x1b[2J");
    const status = await run(["status", target]);
    for (const text of [server.log(), status.stdout, status.stderr]) {
      expect(text.includes("\u001b") || text.includes("\u009b")).toBe(false);
      expect(text).not.toMatch(/^2026-12-06 blockferry: pool/m);
    }
    expect(status.stdout).toContain(
      `${hostname()}:${dir}/x.img\\n2026-12-06 blockferry: pool complete and verified\\x1b[2J\\x9b31m`,
    );
    expect(server.log()).toContain("x.img\\n2026-12-06");
  });
});

describe("set-up mistakes are refused at start", () => {
  it("sync --with-dir of a directory that does not exist fails before anything is copied", async () => {
    const dir = join(scratch.dir, "early");
    mkdirSync(dir);
    const source = join(dir, "src.img");
    writeMixedImage(source, 1 << 20, 76);
    const target = join(dir, "t.img");
    const r = await run(["sync", "-q", "--create", "--with-dir", join(dir, "nonexistent"), source, target]);
    expect(r.code).toBe(EXIT.notFound);
    expect(r.stderr).toMatch(/--with-dir .*nonexistent/);
    expect(() => statSync(target)).toThrow();
    expect(() => statSync(`${target}.blockferry-state.json`)).toThrow();
  });

  it("serve refuses allow-lists and targets that cannot work, naming what is wrong", async () => {
    const dir = join(scratch.dir, "serve-setup");
    mkdirSync(join(dir, "conf"), { recursive: true });
    const t = `pool=${join(dir, "pool.img")}`;
    const cases: Array<[string[], number, RegExp]> = [
      [
        ["--target", t, "--allow-dir", `other=${join(dir, "conf")}`],
        EXIT.usage,
        /--allow-dir: expected the NAME of a --target \(pool\)/,
      ],
      [
        ["--target", t, "--allow", `${hostKey.fingerprint}=other`],
        EXIT.usage,
        /--allow: expected target names of this receiver \(pool\) or \*/,
      ],
      [["--target", t, "--allow-dir", "pool=/"], EXIT.usage, /--allow-dir: expected a directory other than \//],
      [["--target", t, "--allow-dir", `pool=${join(dir, "missing")}`], EXIT.notFound, /no such directory/],
      [
        ["--target", `pool=${join(dir, "no-dir", "pool.img")}`],
        EXIT.notFound,
        /the directory .*no-dir" does not exist/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = await serveStarts([...args, "--create"]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(message);
    }
    // The same receiver without the mistake starts.
    expect((await serveStarts(["--target", t, "--allow-dir", `pool=${join(dir, "conf")}`])).code).toBe("listening");
  });
});
