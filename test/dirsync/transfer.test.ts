import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyInProcess, fulfilled, MemoryStateStore, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, seededInts, testSeed } from "../helpers/random.js";
import { errorOf, leftovers, snapshot, transfer } from "./helpers.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
let serial = 0;
const fresh = (name: string) => join(scratch.dir, `${name}-${++serial}`);
const MiB = 1024 * 1024;

type Spec =
  | { path: string; dir: true; mode: number; owner?: [number, number] }
  | { path: string; data: Buffer; mode: number; owner?: [number, number] }
  | { path: string; link: string; owner?: [number, number] };

/** A path whose chars are bytes (latin1), so a test can name a file that is not UTF-8. */
const bytesOf = (root: string, path: string) => Buffer.from(join(root, path), "latin1");

/** Creates `specs` (parents listed first) under `root`, then sets every mtime, deepest first, root last. */
function build(root: string, specs: Spec[], rootMode = 0o750): void {
  mkdirSync(root);
  for (const s of specs) {
    const p = bytesOf(root, s.path);
    if ("dir" in s) mkdirSync(p);
    else if ("data" in s) writeFileSync(p, s.data);
    else symlinkSync(s.link, p);
    const [uid, gid] = s.owner ?? [0, 0];
    lchownSync(p, uid, gid); // before chmod: chown clears setuid
    if (!("link" in s)) chmodSync(p, s.mode);
  }
  [...specs].reverse().forEach((s, i) => {
    lutimesSync(bytesOf(root, s.path), 1_500_000_000 + i, 1_500_000_000 + i + 0.25);
  });
  chownSync(root, 1234, 5678);
  chmodSync(root, rootMode);
  lutimesSync(root, 1_400_000_000, 1_400_000_000.5);
}

const nonUtf8 = Buffer.from([0x6e, 0xff, 0x2e, 0x62, 0x69, 0x6e]).toString("latin1");
const tree = (seed: number): Spec[] => [
  { path: "empty", data: Buffer.alloc(0), mode: 0o644 },
  { path: "exactly-1MiB", data: seededBytes(MiB, seed), mode: 0o644 },
  { path: "large", data: seededBytes(2 * MiB + MiB / 2 + 7, seed + 1), mode: 0o640, owner: [0, 5678] },
  { path: "link-abs", link: "/etc/passwd" },
  { path: "link-rel", link: "sub/deeper", owner: [1234, 5678] },
  { path: "private", data: Buffer.from("secret\n"), mode: 0o600, owner: [1234, 5678] },
  { path: "read-only", dir: true, mode: 0o555 },
  { path: "read-only/inside", data: Buffer.from("x"), mode: 0o444 },
  { path: "sticky", dir: true, mode: 0o1777 },
  { path: "sub", dir: true, mode: 0o2775, owner: [1234, 5678] },
  { path: "sub/deeper", dir: true, mode: 0o700 },
  { path: "sub/deeper/deepest", dir: true, mode: 0o755 },
  { path: "sub/deeper/deepest/file", data: seededBytes(4097, seed + 2), mode: 0o644 },
  { path: "sub/setuid", data: Buffer.from("#!/bin/sh\n"), mode: 0o755, owner: [1234, 5678] },
];

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)("--with-dir transfer (as root)", () => {
  it("arrives identical: content, modes, owners, mtimes, symlinks, names that are not UTF-8", async () => {
    const seed = testSeed("dirsync tree");
    const src = fresh("src");
    const specs = tree(seed);
    // A name that is not UTF-8 travels as bytes.
    specs.splice(2, 0, { path: nonUtf8, data: Buffer.from("bytes"), mode: 0o644 });
    build(src, specs);
    const dest = fresh("dest");
    const { sent, got, lines } = await transfer([{ source: src, dest }]);
    const reports = fulfilled(sent);
    const bytes = MiB + 2 * MiB + MiB / 2 + 7 + 7 + 1 + 4097 + 10 + 5;
    expect(reports).toEqual([{ dest, entries: specs.length, bytes }]);
    expect(fulfilled(got)).toEqual(reports);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(leftovers(dest)).toEqual([]);
    expect(lines.filter((l) => l.startsWith("warning"))).toEqual([]);
  });

  it("never keeps setuid or setgid on files (a source must not plant a root program); directories keep setgid", async () => {
    const src = fresh("src");
    build(src, [
      { path: "shared", dir: true, mode: 0o2775, owner: [0, 5678] },
      { path: "shared/tool", data: Buffer.from("#!/bin/sh\n"), mode: 0o6755, owner: [0, 0] },
    ]);
    const dest = fresh("dest");
    const { got, lines } = await transfer([{ source: src, dest }]);
    fulfilled(got);
    expect(snapshot(dest)["shared/tool"]?.mode).toBe("755");
    expect(snapshot(dest).shared?.mode).toBe("2775");
    expect(
      lines.filter((l) => /^warning: setuid and setgid bits are not kept on files .*shared\/tool/.test(l)),
    ).toHaveLength(1);
  });

  it("never places a directory through a symlink, even one an earlier directory of the session planted", async () => {
    const outside = fresh("outside");
    mkdirSync(outside);
    const planted = fresh("planted");
    build(planted, [{ path: "s", link: outside }]);
    const victim = fresh("victim-src");
    build(victim, [{ path: "evil", data: Buffer.from("x"), mode: 0o644 }]);
    const first = fresh("first-dest");
    const { got } = await transfer([
      { source: planted, dest: first },
      { source: victim, dest: join(first, "s", "cron.d") },
    ]);
    expect(got.status).toBe("rejected");
    expect((got as PromiseRejectedResult).reason.message).toMatch(/through a symbolic link on the receiving host/);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("replaces an existing directory: files not in the new tree are gone", async () => {
    const src = fresh("src");
    build(src, tree(7));
    const dest = fresh("dest");
    build(dest, [
      { path: "old-only", data: Buffer.from("old"), mode: 0o644 },
      { path: "sub", dir: true, mode: 0o755 },
      { path: "sub/setuid", data: Buffer.from("old content"), mode: 0o755 },
      { path: "sub/stale", dir: true, mode: 0o555 },
    ]);
    fulfilled((await transfer([{ source: src, dest }])).got);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(existsSync(join(dest, "old-only"))).toBe(false);
    expect(leftovers(dest)).toEqual([]);
  });

  it("sends several directories in order, each to its place", async () => {
    const a = fresh("a");
    const b = fresh("b");
    build(a, [{ path: "one", data: Buffer.from("1"), mode: 0o644 }]);
    build(b, [{ path: "two", dir: true, mode: 0o755 }]);
    const dirs = [
      { source: a, dest: fresh("a-dest") },
      { source: b, dest: fresh("b-dest") },
    ];
    const got = fulfilled((await transfer(dirs)).got);
    expect(got.map((r) => [r.dest, r.entries, r.bytes])).toEqual([
      [dirs[0]?.dest, 1, 1],
      [dirs[1]?.dest, 1, 0],
    ]);
    for (const d of dirs) expect(snapshot(d.dest)).toEqual(snapshot(d.source));
  });

  it("a random tree arrives identical", async () => {
    const seed = testSeed("dirsync random tree");
    const pick = seededInts(seed);
    const specs: Spec[] = [];
    const dirs = [""];
    const modes = [0o600, 0o644, 0o755, 0o700, 0o444, 0o640]; // files never keep setuid/setgid
    for (let i = 0; i < 150; i++) {
      const parent = dirs[pick(dirs.length)] as string;
      const path = `${parent}${parent ? "/" : ""}n${i}-${pick(1000)}`;
      const owner: [number, number] = [pick(3) * 1000, pick(3) * 1000];
      const kind = pick(10);
      if (kind < 3) {
        specs.push({ path, dir: true, mode: pick(2) ? 0o755 : 0o750, owner });
        dirs.push(path);
      } else if (kind < 9) {
        const size = pick(20) === 0 ? MiB + pick(MiB) : pick(5000);
        specs.push({ path, data: seededBytes(size, seed + i), mode: modes[pick(modes.length)] as number, owner });
      } else {
        specs.push({ path, link: `../target-${pick(100)}`, owner });
      }
    }
    const src = fresh("src");
    build(src, specs);
    const dest = fresh("dest");
    fulfilled((await transfer([{ source: src, dest }])).got);
    expect(snapshot(dest)).toEqual(snapshot(src));
  });

  it("cleans up what a killed run left beside the destination", async () => {
    const src = fresh("src");
    build(src, tree(3));
    const dest = fresh("dest");
    build(dest, [{ path: "old", data: Buffer.from("old"), mode: 0o644 }]);
    build(`${dest}.blockferry-new`, [{ path: "half", data: Buffer.from("half-written"), mode: 0o644 }]);
    build(`${dest}.blockferry-old`, [{ path: "ro", dir: true, mode: 0o555 }]);
    const { got, lines } = await transfer([{ source: src, dest }]);
    fulfilled(got);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(leftovers(dest)).toEqual([]);
    expect(lines.filter((l) => l.includes("left by an earlier transfer"))).toHaveLength(2);
  });

  it("skips fifos with a warning and sends the rest", async () => {
    const src = fresh("src");
    build(src, [{ path: "file", data: Buffer.from("kept"), mode: 0o644 }]);
    execFileSync("mkfifo", [join(src, "pipe")]);
    const dest = fresh("dest");
    const { got, lines } = await transfer([{ source: src, dest }]);
    expect(fulfilled(got)[0]?.entries).toBe(1);
    expect(existsSync(join(dest, "pipe"))).toBe(false);
    expect(readFileSync(join(dest, "file"), "utf8")).toBe("kept");
    expect(lines.some((l) => l.startsWith("warning") && l.includes("pipe") && l.includes("fifo"))).toBe(true);
  });

  it("follows a verified volume copy over the sync's own channel (runSource, runTarget)", async () => {
    const src = fresh("src");
    build(src, tree(11));
    const dest = fresh("dest");
    const image = fresh("image");
    writeMixedImage(image, 1 << 20, 11);
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const r = await copyInProcess({
      source: image,
      target: fresh("copy"),
      source_: { dirs: [{ source: src, dest }], log },
      target_: { log },
    });
    expect(fulfilled(r.source).dirs).toEqual(fulfilled(r.target).dirs);
    expect(fulfilled(r.target).dirs[0]?.entries).toBe(tree(11).length);
    expect(snapshot(dest)).toEqual(snapshot(src));
    expect(lines.some((l) => l.includes(`${dest}: placed`))).toBe(true);
  });

  it("a source that fails reports its own error; the volume copy stays verified, nothing is placed", async () => {
    const src = fresh("src");
    build(src, [{ path: "file", data: Buffer.from("x"), mode: 0o644 }]);
    const link = fresh("link");
    symlinkSync(src, link);
    const dest = fresh("dest");
    const image = fresh("image");
    writeMixedImage(image, 1 << 20, 12);
    const state = new MemoryStateStore();
    const r = await copyInProcess({
      source: image,
      target: fresh("copy"),
      state,
      source_: { dirs: [{ source: link, dest }] },
    });
    expect(errorOf(r.source).code).toBe("E_INVALID_ARG");
    expect(errorOf(r.source).message).toMatch(/^--with-dir .* is a symbolic link/);
    // The source's ERROR is best effort: runSource then destroys its channel, which may reset the link first.
    expect(errorOf(r.target).message).toMatch(/^source: --with-dir .* is a symbolic link|connection/);
    expect(state.last?.verified).toBe(true);
    expect(existsSync(dest)).toBe(false);
    expect(leftovers(dest)).toEqual([]);
  });

  it("refuses a source that is a symlink, and a destination that is not a directory, leaving it alone", async () => {
    const src = fresh("src");
    build(src, [{ path: "file", data: Buffer.from("x"), mode: 0o644 }]);
    const link = fresh("link");
    symlinkSync(src, link);
    const dest = fresh("dest");
    const viaLink = await transfer([{ source: link, dest }]);
    expect(errorOf(viaLink.sent).message).toMatch(/symbolic link/);
    expect(errorOf(viaLink.got).message).toMatch(/source: .*symbolic link/);
    expect(existsSync(dest)).toBe(false);
    expect(leftovers(dest)).toEqual([]);

    writeFileSync(dest, "a file");
    const onFile = await transfer([{ source: src, dest }]);
    expect(errorOf(onFile.got).message).toMatch(/not a directory/);
    expect(readFileSync(dest, "utf8")).toBe("a file");
    expect(leftovers(dest)).toEqual([]);
  });
});
