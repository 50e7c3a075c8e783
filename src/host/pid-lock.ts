/**
 * A lock file holding the pid of its owner, so that two runs never work on
 * the same thing at once, and a run that died (kill -9, power loss) does not
 * block the next one: a lock whose pid no longer runs is taken over.
 *
 * The file appears atomically with its content (written to a private name,
 * then link()ed, which like O_EXCL fails when the name exists): a reader never
 * sees an empty lock. Taking over renames the stale file aside and checks it
 * is the very file judged stale (same inode), so two runs taking over at the
 * same moment cannot both win.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";

export interface PidLock {
  path: string;
  /** Removes the lock file if it is still ours. */
  release(): void;
}

/** Takes the lock at `path`; E_BUSY when a running process holds it. `what` names what it protects. */
export function acquirePidLock(path: string, what: string, log: (line: string) => void): PidLock {
  const mine = `${path}.${process.pid}.new`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(mine, `${process.pid}\n`);
  } catch (e) {
    throw fromFsError(e, `cannot create the lock file ${path}`);
  }
  try {
    // Three rounds: one lock released or taken over under our feet is retried, a livelock is not.
    for (let round = 0; round < 3; round++) {
      if (tryLink(mine, path)) return { path, release: () => releaseIfOurs(path) };
      const holder = readHolder(path);
      if (holder === undefined) continue; // released meanwhile
      if (holder.pid !== undefined && isRunning(holder.pid)) break;
      if (removeIfSame(path, holder.ino)) {
        const who = holder.pid === undefined ? "no pid" : `pid ${holder.pid}, which no longer runs`;
        log(`taking over the lock ${path} of ${what} (held by ${who})`);
      }
    }
    const holder = readHolder(path)?.pid;
    throw new BlockferryError(
      "E_BUSY",
      `${what} is locked by another blockferry run (pid ${holder ?? "unknown"}): wait for it to finish` +
        ` (if no blockferry runs as that pid, remove ${path})`,
    );
  } finally {
    rmSync(mine, { force: true });
  }
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw fromFsError(e, `cannot create the lock file ${to}`);
  }
}

/** The pid in the lock (undefined if it holds none) and its inode; undefined when there is no lock. */
function readHolder(path: string): { pid: number | undefined; ino: number } | undefined {
  try {
    const ino = statSync(path).ino;
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return { pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined, ino };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromFsError(e, `cannot read the lock file ${path}`);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the lock at `path` if it is still the file with inode `ino`; false if another took its place. */
function removeIfSame(path: string, ino: number): boolean {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw fromFsError(e, `cannot take over the lock file ${path}`);
  }
  if (statSync(aside).ino === ino) {
    unlinkSync(aside);
    return true;
  }
  // A live lock made in between: put it back (unless yet another appeared) and let the next round see it.
  tryLink(aside, path);
  unlinkSync(aside);
  return false;
}

function releaseIfOurs(path: string): void {
  if (readHolder(path)?.pid === process.pid) unlinkSync(path);
}
