/**
 * The host's placement lock: one placement at a time, across connections and
 * across processes, and a holder that dies never blocks the next one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { acquirePlacementLock, placementLockPath } from "../../src/dirsync/lock.js";
import type { BlockferryError } from "../../src/errors.js";
import { LockFd } from "../../src/native/index.js";
import { scratchDir } from "../helpers/files.js";
import { leftovers } from "./helpers.js";
import { connect, data, file, stream, until } from "./script.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
let serial = 0;
const fresh = (name: string) => join(scratch.dir, `${name}-${++serial}`);

let holder: ChildProcess | undefined;
afterEach(() => {
  // Its own process group: flock and the sleep it started.
  if (holder?.pid !== undefined) {
    try {
      process.kill(-holder.pid, "SIGKILL");
    } catch {}
  }
  holder = undefined;
});

/** True while some other open file holds the lock at `path`. */
async function heldElsewhere(path: string): Promise<boolean> {
  const probe = await LockFd.open(path);
  try {
    return !(await probe.tryLock());
  } finally {
    await probe.close();
  }
}

describe("the placement lock", () => {
  it("another process holding it makes a placement wait; killed, it blocks nothing (flock(1) as the other receiver)", async () => {
    const path = placementLockPath();
    await (await acquirePlacementLock(() => {})).release(); // creates the lock file (and root's directory)
    // -o: the lock is flock's own, not inherited by the sleep it runs.
    holder = spawn("flock", ["-o", path, "sleep", "600"], { stdio: "ignore", detached: true });
    expect(await until(() => heldElsewhere(path))).toBe(true);

    const dest = fresh("dest");
    const c = connect(dest);
    await c.send(...stream(file("f", 3), data(3)));
    expect(await until(() => c.lines.some((l) => l.includes(`waiting for another placement on this host`)))).toBe(true);
    expect(existsSync(dest)).toBe(false);
    expect(leftovers(dest)).toEqual([]);

    holder.kill("SIGKILL");
    expect(await c.close()).toEqual([{ dest, entries: 1, bytes: 3 }]);
    expect(existsSync(join(dest, "f"))).toBe(true);
  });

  it("a second holder in the same process waits for the first to release it", async () => {
    const path = fresh("lock");
    const first = await acquirePlacementLock(() => {}, { path });
    const lines: string[] = [];
    let got = false;
    const second = acquirePlacementLock((l) => lines.push(l), { path }).then((l) => {
      got = true;
      return l;
    });
    expect(await until(() => lines.length > 0)).toBe(true);
    expect(got).toBe(false);
    await first.release();
    await (await second).release();
    expect(got).toBe(true);
  });

  it("gives up with E_BUSY, naming the lock, when it stays held past the wait", async () => {
    const path = fresh("lock");
    const first = await acquirePlacementLock(() => {}, { path });
    const e = await acquirePlacementLock(() => {}, { path, waitMs: 100 }).catch((e: unknown) => e);
    await first.release();
    expect((e as BlockferryError).code).toBe("E_BUSY");
    expect((e as BlockferryError).message).toContain(path);
  });

  it("refuses a lock file that is a symlink or not a regular file", async () => {
    const target = fresh("target");
    const link = fresh("link");
    symlinkSync(target, link);
    const viaLink = await acquirePlacementLock(() => {}, { path: link }).catch((e: unknown) => e);
    expect((viaLink as BlockferryError).message).toMatch(/^opening the --with-dir lock .*ELOOP/);
    expect(existsSync(target)).toBe(false);
    const dir = fresh("dir");
    mkdirSync(dir);
    const onDir = await acquirePlacementLock(() => {}, { path: dir }).catch((e: unknown) => e);
    expect((onDir as BlockferryError).code).toBe("E_UNSUPPORTED");
    expect((onDir as BlockferryError).message).toMatch(/is not a regular file: not used as a lock/);
  });
});
