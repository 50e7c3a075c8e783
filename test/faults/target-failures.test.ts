/**
 * Targets that fail under a sync, with the kernel's own errors (root only):
 * an image on a tmpfs that fills up (ENOSPC), locally and through `serve`;
 * a loop device over a sparse file on a tmpfs too small for it; a loop device
 * over a FUSE file whose writes fail with EIO; and a loop device whose backing
 * file is truncated underneath. Each must end with its exit code, the target
 * marked incomplete and the source unchanged, and a second sync once the
 * fault is gone must make an identical copy.
 */
import type { ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { MAX_BLOCKS_BYTES } from "../../src/protocol/messages.js";
import { type Run, start, startServer } from "../helpers/cli.js";
import { allocatedBytes, scratchDir, sha256 } from "../helpers/files.js";
import { attachLoop, detachLoop, loopUnavailable } from "../helpers/loop.js";
import { seededBytes, seededInts, testSeed } from "../helpers/random.js";
import { type FaultyFile, mountTmpfs, resizeTmpfs, startFaultyFile, unmount } from "../helpers/small-fs.js";

const MiB = 1024 * 1024;
const skipReason =
  process.getuid?.() !== 0 ? "needs root (mounts tmpfs and FUSE, attaches loop devices)" : loopUnavailable();
if (skipReason) console.log(`target failure tests skipped: ${skipReason}`);
const fuseMissing = existsSync("/dev/fuse") ? undefined : "no /dev/fuse (kernel without FUSE)";
if (!skipReason && fuseMissing) console.log(`the EIO test is skipped: ${fuseMissing}`);

// Everything this file creates, released on every path: only these, never anything else.
const scratch = scratchDir();
const servers: Array<{ child: ChildProcess }> = [];
const children: ChildProcess[] = [];
const devices: string[] = [];
const fuses: FaultyFile[] = [];
const mounts: string[] = [];
afterEach(async () => {
  // Each step is tried even when an earlier one throws; the first failure is reported.
  const failures: unknown[] = [];
  const attempt = async (step: () => unknown) => {
    try {
      await step();
    } catch (e) {
      failures.push(e);
    }
  };
  for (const c of [...servers.splice(0).map((s) => s.child), ...children.splice(0)]) c.kill("SIGKILL");
  for (const d of devices.splice(0)) await attempt(() => detachLoop(d));
  for (const f of fuses.splice(0)) await attempt(() => f.stop());
  for (const m of mounts.splice(0)) await attempt(() => unmount(m));
  if (failures.length > 0) throw failures[0];
});
afterAll(() => scratch.remove());

/** `blockferry ARGS`, killed by afterEach if it is still running (a hang must not outlive its test). */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = start(args, env);
  children.push(child);
  return child.output();
}

function mountSmall(name: string, bytes: number): string {
  const dir = join(scratch.dir, name);
  mkdirSync(dir);
  mountTmpfs(dir, bytes);
  mounts.push(dir);
  return dir;
}

function loop(file: string): string {
  const device = attachLoop(file);
  devices.push(device);
  return device;
}

/** A loop device over a 64 MiB sparse file on a tmpfs of `fsSize`; its state directory on the scratch disk. */
function loopOnSmallFs(name: string, fsSize: number) {
  const fs = mountSmall(name, fsSize);
  const backing = join(fs, "backing.img");
  writeFileSync(backing, "");
  truncateSync(backing, 64 * MiB);
  return { fs, backing, device: loop(backing), stateDir: join(scratch.dir, `state-${name}`) };
}

/** A source of random (incompressible) bytes, on the scratch disk, away from every failing filesystem. */
function writeSource(name: string, size: number, seed: number): { path: string; data: Buffer; sha: string } {
  const path = join(scratch.dir, name);
  const data = seededBytes(size, seed);
  writeFileSync(path, data);
  return { path, data, sha: sha256(path) };
}

/** The first `length` bytes of a file or device. */
function readPrefix(path: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(path, "r");
  try {
    for (let at = 0; at < length; ) {
      const n = readSync(fd, out, at, length - at, at);
      if (n === 0) break;
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

interface FailedSummary {
  ok: boolean;
  code: string;
  message: string;
}

/** The JSON line `sync --json` printed. */
function summaryOf(r: Run): FailedSummary {
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
}

interface StatusJson {
  complete: boolean;
  runningPid?: number;
  problem?: string;
}

async function status(target: string, stateDir?: string): Promise<{ code: number | null; json: StatusJson }> {
  const r = await run(["status", "--json", ...(stateDir === undefined ? [] : ["--state-dir", stateDir]), target]);
  return { code: r.code, json: JSON.parse(r.stdout) };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs `f` once; every test that asks gets the same result (the tests of its messages look at what the main test saw). */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= f();
    return result;
  };
}

/** Files a failed sync left beside an image: the state writer's temporaries end in .tmp. */
const temporaries = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".tmp"));

describe.skipIf(skipReason !== undefined)("target failures", () => {
  // ---- ENOSPC: an image on a 6 MiB tmpfs, a 16 MiB source ----

  const fullLocal = once(async () => {
    const seed = testSeed("ENOSPC local");
    const source = writeSource("enospc-local-src.img", 16 * MiB, seed);
    const fs = mountSmall("full-local", 6 * MiB);
    const target = join(fs, "copy.img");
    const failed = await run(["sync", "--json", "--create", source.path, target]);
    const leftAfterFailure = temporaries(fs);
    const statusAfterFailure = await status(target);
    const sourceAfterFailure = sha256(source.path);
    resizeTmpfs(fs, 64 * MiB);
    const retry = await run(["sync", "--create", source.path, target]);
    return {
      source,
      target,
      failed,
      leftAfterFailure,
      statusAfterFailure,
      sourceAfterFailure,
      retry,
      identical: retry.code === EXIT.ok && sha256(target) === source.sha,
      statusAfterRetry: await status(target),
      sourceAfterRetry: sha256(source.path),
    };
  });

  it("a local sync onto a full filesystem exits 6, leaves the copy incomplete and the source unchanged; with room, it completes", async () => {
    const f = await fullLocal();
    expect(f.failed.code, f.failed.stderr).toBe(EXIT.noSpace);
    expect(summaryOf(f.failed)).toMatchObject({ ok: false, code: "E_NO_SPACE" });
    expect(f.failed.stderr).toMatch(/write failed: No space left on device at byte offset \d+/);
    // Whatever the state file holds (it may not have been writable), status never calls it complete.
    expect(f.statusAfterFailure.code).toBe(EXIT.incomplete);
    expect(f.statusAfterFailure.json.complete).toBe(false);
    expect(f.sourceAfterFailure).toBe(f.source.sha);

    expect(f.retry.code, f.retry.stderr).toBe(EXIT.ok);
    expect(f.identical).toBe(true);
    expect(f.statusAfterRetry.code).toBe(EXIT.ok);
    expect(f.statusAfterRetry.json.complete).toBe(true);
    expect(f.sourceAfterRetry).toBe(f.source.sha);
  });

  it("the ENOSPC error names the target's path", async () => {
    const f = await fullLocal();
    expect(summaryOf(f.failed).message).toContain(f.target);
  });

  it("a failed state save leaves no temporary file beside the image", async () => {
    const f = await fullLocal();
    expect(f.leftAfterFailure).toEqual([]);
  });

  it("a filesystem with no room even for the state file: exit 6 naming the state file, nothing written, never complete", async () => {
    const seed = testSeed("ENOSPC before the first write");
    const source = writeSource("enospc-state-src.img", 2 * MiB, seed);
    const fs = mountSmall("full-state", 4 * MiB);
    // Filled to the last block: creating the (sparse) image still works, writing its state does not.
    const filler = openSync(join(fs, "filler"), "w");
    try {
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (;;) writeSync(filler, chunk);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
    } finally {
      closeSync(filler);
    }
    const target = join(fs, "copy.img");
    const failed = await run(["sync", "--json", "--create", source.path, target]);
    expect(failed.code, failed.stderr).toBe(EXIT.noSpace);
    expect(summaryOf(failed)).toMatchObject({ ok: false, code: "E_NO_SPACE" });
    expect(summaryOf(failed).message).toContain(`cannot save the state file ${target}.blockferry-state.json`);
    expect(allocatedBytes(target)).toBe(0);
    // No state could be written: status finds no record of a sync (and says so as JSON too).
    const after = await status(target);
    expect(after.code).toBe(EXIT.notFound);
    expect(after.json).toMatchObject({ ok: false, code: "E_NOT_FOUND" });
    expect(sha256(source.path)).toBe(source.sha);
  });

  // ---- ENOSPC through `blockferry serve` over TCP ----

  const fullRemote = once(async () => {
    const seed = testSeed("ENOSPC over TCP");
    const source = writeSource("enospc-tcp-src.img", 16 * MiB, seed);
    const fs = mountSmall("full-tcp", 6 * MiB);
    const target = join(fs, "copy.img");
    // Allowed past its filesystem's size (the default cap), so that the writes run out of room.
    const server = await startServer(["--target", `backup=${target}`, "--create", "--max-image-size", "backup=16M"]);
    servers.push(server);
    const dest = `tcp://127.0.0.1:${server.port}/backup`;
    const failed = await run(["sync", "--json", source.path, dest]);
    await waitFor(() => /refused or failed: E_NO_SPACE/.test(server.log()), "the receiver to log its failure");
    const statusAfterFailure = await status(target);
    const sourceAfterFailure = sha256(source.path);
    resizeTmpfs(fs, 64 * MiB);
    const retry = await run(["sync", source.path, dest]);
    return {
      source,
      target,
      failed,
      receiverLog: server.log(),
      serverAlive: server.child.exitCode === null,
      statusAfterFailure,
      sourceAfterFailure,
      retry,
      identical: retry.code === EXIT.ok && sha256(target) === source.sha,
      statusAfterRetry: await status(target),
    };
  });

  it("through serve, the source reports the receiver's ENOSPC with exit 6; the receiver goes on and completes the next sync", async () => {
    const f = await fullRemote();
    expect(f.failed.code, f.failed.stderr).toBe(EXIT.noSpace);
    expect(summaryOf(f.failed)).toMatchObject({ ok: false, code: "E_NO_SPACE" });
    expect(summaryOf(f.failed).message).toMatch(
      /^target: backup \(.*copy\.img\): write failed: No space left on device/,
    );
    expect(f.receiverLog).toMatch(
      /refused or failed: E_NO_SPACE: backup \(.*\): write failed: No space left on device/,
    );
    expect(f.serverAlive).toBe(true);
    expect(f.statusAfterFailure.code).toBe(EXIT.incomplete);
    expect(f.statusAfterFailure.json.complete).toBe(false);
    expect(f.sourceAfterFailure).toBe(f.source.sha);

    expect(f.retry.code, f.retry.stderr).toBe(EXIT.ok);
    expect(f.identical).toBe(true);
    expect(f.statusAfterRetry.code).toBe(EXIT.ok);
  });

  it("the source's ENOSPC error names the receiver's target", async () => {
    const f = await fullRemote();
    expect(summaryOf(f.failed).message).toMatch(/backup|copy\.img/);
  });

  it("after the receiver gave up, status does not say a sync is running", async () => {
    const f = await fullRemote();
    expect(f.statusAfterFailure.json.runningPid).toBeUndefined();
  });

  // ---- a loop device over a 64 MiB sparse file on an 8 MiB tmpfs ----

  it("a loop device whose backing tmpfs fills up fails the sync with the errno the kernel gives; then completes with room", async () => {
    const seed = testSeed("loop on a full tmpfs");
    const source = writeSource("loop-full-src.img", 32 * MiB, seed);
    const { fs, device, stateDir } = loopOnSmallFs("loop-full", 8 * MiB);

    const failed = await run(["sync", "--json", "--state-dir", stateDir, source.path, device]);
    // Linux 6.18's loop driver passes the backing file's ENOSPC up (BLK_STS_NOSPC, "critical
    // space allocation error" in the kernel log); loop drivers that turn every backing-file
    // error into EIO give E_IO. Either way the exit code must be the errno's.
    const kinds = {
      E_NO_SPACE: { exit: EXIT.noSpace, text: /write failed: No space left on device/ },
      E_IO: { exit: EXIT.io, text: /write failed: Input\/output error/ },
    } as const;
    const { code } = summaryOf(failed);
    console.log(`[loop on a full tmpfs] the kernel gave ${code}, exit ${failed.code}`);
    expect(Object.keys(kinds)).toContain(code);
    const kind = kinds[code as keyof typeof kinds];
    expect(failed.code, failed.stderr).toBe(kind.exit);
    expect(failed.stderr).toMatch(kind.text);
    const after = await status(device, stateDir);
    expect(after.code).toBe(EXIT.incomplete);
    expect(after.json.complete).toBe(false);
    expect(sha256(source.path)).toBe(source.sha);

    resizeTmpfs(fs, 96 * MiB);
    const retry = await run(["sync", "--state-dir", stateDir, source.path, device]);
    expect(retry.code, retry.stderr).toBe(EXIT.ok);
    expect(readPrefix(device, source.data.length).equals(source.data)).toBe(true);
    expect((await status(device, stateDir)).code).toBe(EXIT.ok);
    expect(sha256(source.path)).toBe(source.sha);
  });

  // ---- EIO: a loop device over a FUSE file whose writes fail from a seeded offset on ----

  const failingDevice = once(async () => {
    const seed = testSeed("EIO");
    const source = writeSource("eio-src.img", 32 * MiB, seed);
    const failFrom = (4 + seededInts(seed)(24)) * MiB + 4096;
    const mountpoint = join(scratch.dir, "fuse");
    mkdirSync(mountpoint);
    const file = await startFaultyFile(mountpoint, 48 * MiB);
    fuses.push(file);
    const device = loop(file.path);
    const stateDir = join(scratch.dir, "state-eio");
    await file.failWritesFrom(failFrom);
    const failed = await run(["sync", "--json", "--state-dir", stateDir, source.path, device]);
    const failedWrites = await file.failedWrites();
    const statusAfterFailure = await status(device, stateDir);
    const sourceAfterFailure = sha256(source.path);
    await file.failWritesFrom(undefined);
    const retry = await run(["sync", "--state-dir", stateDir, source.path, device]);
    return {
      source,
      device,
      failFrom,
      failed,
      failedWrites,
      statusAfterFailure,
      sourceAfterFailure,
      retry,
      identical: retry.code === EXIT.ok && readPrefix(device, source.data.length).equals(source.data),
      statusAfterRetry: await status(device, stateDir),
    };
  });

  it.skipIf(fuseMissing !== undefined)(
    "a device that fails writes with EIO ends the sync with exit 7, the write's offset and an incomplete copy; then it completes",
    async () => {
      const f = await failingDevice();
      expect(f.failedWrites).toBeGreaterThan(0); // the FUSE process refused writes: the kernel's EIO path ran
      expect(f.failed.code, f.failed.stderr).toBe(EXIT.io);
      expect(summaryOf(f.failed)).toMatchObject({ ok: false, code: "E_IO" });
      const m = /write failed: Input\/output error at byte offset (\d+)/.exec(f.failed.stderr);
      expect(m, f.failed.stderr).not.toBeNull();
      // The offset is where the failed request started (an O_DIRECT write fails as a whole): at
      // most one batch before the first byte that could not be written.
      const offset = Number(m?.[1]);
      expect(offset).toBeLessThanOrEqual(f.failFrom);
      expect(offset).toBeGreaterThan(f.failFrom - MAX_BLOCKS_BYTES);
      expect(f.statusAfterFailure.code).toBe(EXIT.incomplete);
      expect(f.statusAfterFailure.json.complete).toBe(false);
      expect(f.sourceAfterFailure).toBe(f.source.sha);

      expect(f.retry.code, f.retry.stderr).toBe(EXIT.ok);
      expect(f.identical).toBe(true);
      expect(f.statusAfterRetry.code).toBe(EXIT.ok);
    },
  );

  it.skipIf(fuseMissing !== undefined)("the EIO error names the device", async () => {
    const f = await failingDevice();
    expect(summaryOf(f.failed).message).toContain(f.device);
  });

  // ---- the backing file truncated underneath the loop device ----

  it("a backing file truncated mid-copy fails no write (--verify catches the loss: exit 13); reads past its end fail with EIO (exit 7)", async () => {
    const seed = testSeed("truncated backing file");
    const source = writeSource("truncate-src.img", 48 * MiB, seed);
    const { backing, device, stateDir } = loopOnSmallFs("truncate", 160 * MiB);

    // The target holds zeros, so it reads nothing while the blocks come: only writes. The
    // first batch (16 MiB) goes at once, the rest at 24 MB/s: the file is truncated when
    // the first batch is on it, with 32 MiB still to come.
    const args = ["sync", "--json", "--verify", "--bwlimit", "24M", "--state-dir", stateDir, source.path, device];
    const sync = start(args);
    children.push(sync);
    await waitFor(() => allocatedBytes(backing) >= 4 * MiB || sync.exitCode !== null, "the first write");
    truncateSync(backing, 0);
    const r = await sync.output();
    // The loop device keeps its size and the later writes grow the file again; what was
    // written before reads back as zeros. Without --verify this sync exits 0 ("complete").
    expect(statSync(backing).size).toBe(source.data.length);
    expect(r.stderr).not.toMatch(/Input\/output error|No space left/);
    expect(r.code, r.stderr).toBe(EXIT.verify);
    expect(summaryOf(r)).toMatchObject({ ok: false, code: "E_VERIFY" });
    expect(r.stderr).toMatch(/differs from the source's [0-9a-f]{32}; marked incomplete/);
    expect(readPrefix(device, source.data.length).equals(source.data)).toBe(false);
    const afterVerify = await status(device, stateDir);
    expect(afterVerify.code).toBe(EXIT.incomplete);
    expect(afterVerify.json.complete).toBe(false);
    expect(sha256(source.path)).toBe(source.sha);

    // Truncated again, then compared: the target reads its copy, and past the backing file's
    // end the loop device fails reads with EIO (Linux 6.18; older loop drivers read zeros).
    truncateSync(backing, 8 * MiB);
    const unreadable = await run(["sync", "--json", "--state-dir", stateDir, source.path, device]);
    console.log(`[truncated backing file] a delta over the truncated file: exit ${unreadable.code}`);
    if (unreadable.code === EXIT.io) {
      expect(summaryOf(unreadable)).toMatchObject({ ok: false, code: "E_IO" });
      expect(unreadable.stderr).toMatch(/read failed: Input\/output error at byte offset \d+/);
      const afterRead = await status(device, stateDir);
      expect(afterRead.code).toBe(EXIT.incomplete);
      expect(afterRead.json.complete).toBe(false);
    } else {
      // A loop driver that reads zeros past the end: the delta simply rewrites what is missing.
      expect(unreadable.code, unreadable.stderr).toBe(EXIT.ok);
    }
    expect(sha256(source.path)).toBe(source.sha);

    truncateSync(backing, 64 * MiB);
    const retry = await run(["sync", "--verify", "--state-dir", stateDir, source.path, device]);
    expect(retry.code, retry.stderr).toBe(EXIT.ok);
    expect(readPrefix(device, source.data.length).equals(source.data)).toBe(true);
    expect((await status(device, stateDir)).code).toBe(EXIT.ok);
  });
});
