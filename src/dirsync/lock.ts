/**
 * One placement at a time on this host, across the connections of a receiver
 * and across receiver processes: two placements into overlapping places
 * (one DEST inside the other, the same DEST, two targets whose --allow-dir
 * roots overlap) would otherwise remove or replace each other's trees while
 * they are being built.
 *
 * One lock for the host, not one per directory: overlap is a matter of
 * ancestors (a placement at /etc/app replaces whatever another builds in
 * /etc/app/conf), so finer locks would have to cover every ancestor of every
 * destination. Placements are small configuration directories, one per
 * nightly sync, so the wait they cost each other is short.
 *
 * An flock on a lock file: the kernel drops it when its holder closes it or
 * dies (kill -9 included), so a killed receiver never blocks the next one. A
 * waiter polls (flock never blocks a libuv worker thread here) and gives up
 * after LOCK_WAIT_MS with E_BUSY: a stalled placement delays others, it
 * cannot stop them forever without their knowing why.
 */
import { constants, lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BlockferryError, fromFsError } from "../errors.js";
import { LockFd } from "../native/index.js";

export const LOCK_WAIT_MS = 10 * 60_000;
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 500;

/**
 * Root's lock lives in a directory only root may write (/run/blockferry), so no
 * local user can hold it; other users share /run/lock (or the temporary
 * directory where there is none). Receivers of one user thus serialise among
 * themselves; root's and another user's placements are not serialised against
 * each other (neither can follow a symlink the other planted, see place.ts).
 */
export function placementLockPath(): string {
  if (process.getuid?.() === 0) return "/run/blockferry/with-dir.lock";
  const shared = lstatSync("/run/lock", { throwIfNoEntry: false })?.isDirectory() ? "/run/lock" : tmpdir();
  return join(shared, "blockferry-with-dir.lock");
}

/** Root's lock directory: created if missing, and refused if anyone but root could change it. */
function checkRootLockDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fromFsError(e, `creating ${dir}`);
  }
  const st = lstatSync(dir);
  const othersWrite = (st.mode & constants.S_IWOTH) !== 0 || (st.gid !== 0 && (st.mode & constants.S_IWGRP) !== 0);
  if (!st.isDirectory() || st.uid !== 0 || othersWrite) {
    throw new BlockferryError(
      "E_ACCESS",
      `${dir} must be a directory owned by root and writable by root only (it holds the --with-dir lock)`,
    );
  }
}

export interface PlacementLock {
  release(): Promise<void>;
}

export interface LockOptions {
  path?: string;
  waitMs?: number;
}

/** Waits until no other placement runs on this host, then holds the lock until release(). */
export async function acquirePlacementLock(log: (line: string) => void, o: LockOptions = {}): Promise<PlacementLock> {
  const path = o.path ?? placementLockPath();
  const waitMs = o.waitMs ?? LOCK_WAIT_MS;
  if (o.path === undefined && process.getuid?.() === 0) checkRootLockDir("/run/blockferry");
  let lock: LockFd;
  try {
    lock = await LockFd.open(path);
  } catch (e) {
    throw fromFsError(e, `opening the --with-dir lock ${path}`);
  }
  try {
    const since = Date.now();
    for (let pause = FIRST_POLL_MS; !(await lock.tryLock()); pause = Math.min(pause * 2, MAX_POLL_MS)) {
      if (pause === FIRST_POLL_MS) log(`waiting for another placement on this host to finish (lock ${path})`);
      if (Date.now() - since > waitMs) {
        throw new BlockferryError(
          "E_BUSY",
          `--with-dir: another placement on this host has held ${path} for over ${Math.round(waitMs / 1000)} s; nothing was placed (fuser ${path} names its holder)`,
        );
      }
      await sleep(pause);
    }
  } catch (e) {
    await lock.close();
    throw e;
  }
  return { release: () => lock.close() };
}
