/**
 * The diff of two thin snapshots of one pool, read from the pool's metadata
 * with thin_delta, which needs the pool's metadata snapshot held meanwhile:
 *
 *   dmsetup status VG-POOL-tpool                        is one held already? (7th field, "-": none)
 *   dmsetup message VG-POOL-tpool 0 reserve_metadata_snap
 *   thin_delta -m --snap1 OLD --snap2 NEW /dev/mapper/VG-POOL_tmeta
 *   dmsetup message VG-POOL-tpool 0 release_metadata_snap        on every path
 *
 * The kernel allows one held metadata snapshot per pool. Ours is taken under
 * the pid lock LOCK_DIR/thin-meta-VG-POOL.lock, and the file
 * LOCK_DIR/thin-meta-VG-POOL.held exists while we hold it: a run killed
 * meanwhile (kill -9) leaves it, and the next run, which takes the lock over,
 * releases that snapshot. One held without that file is another tool's: we
 * refuse, and leave it.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";
import { acquirePidLock } from "./pid-lock.js";
import { runTool } from "./run-tool.js";
import { parseThinDelta, type ThinDelta } from "./thin-delta.js";

const TOOL_TIMEOUT_MS = 5 * 60_000;

export interface DiffRequest {
  vg: string;
  pool: string;
  /** Thin device ids (lvs -o thin_id) of the old and the new snapshot. */
  oldId: number;
  newId: number;
  lockDir: string;
  log: (line: string) => void;
}

/** device-mapper's name of VG/LV: each '-' inside a name doubled, the two joined by '-'. */
export function dmName(vg: string, lv: string): string {
  return `${vg.replaceAll("-", "--")}-${lv.replaceAll("-", "--")}`;
}

/** What the pool's changed chunks are between the two snapshots; E_SNAPSHOT or E_UNSUPPORTED when it cannot tell. */
export async function diffThin(r: DiffRequest): Promise<ThinDelta> {
  const tpool = `${dmName(r.vg, r.pool)}-tpool`;
  const base = join(r.lockDir, `thin-meta-${dmName(r.vg, r.pool)}`);
  const held = `${base}.held`;
  const lock = acquirePidLock(`${base}.lock`, `the metadata snapshot of the pool ${r.vg}/${r.pool}`, r.log);
  try {
    await releaseStale(tpool, held, r);
    try {
      writeFileSync(held, `${process.pid}\n`);
    } catch (e) {
      throw fromFsError(e, `cannot create ${held}`);
    }
    await dmsetup(["message", tpool, "0", "reserve_metadata_snap"], r.log).catch((e) => {
      rmSync(held, { force: true });
      throw e;
    });
    let out: string;
    try {
      const args = [
        "-m",
        "--snap1",
        String(r.oldId),
        "--snap2",
        String(r.newId),
        `/dev/mapper/${dmName(r.vg, r.pool)}_tmeta`,
      ];
      out = await runTool("thin_delta", args, {
        pkg: "thin-provisioning-tools",
        code: "E_SNAPSHOT",
        timeoutMs: TOOL_TIMEOUT_MS,
        log: r.log,
      });
    } finally {
      await release(tpool, held, r.log);
    }
    return parseThinDelta(out, r.oldId, r.newId);
  } finally {
    lock.release();
  }
}

async function release(tpool: string, held: string, log: (line: string) => void): Promise<void> {
  await dmsetup(["message", tpool, "0", "release_metadata_snap"], log);
  rmSync(held, { force: true });
}

/** Releases the metadata snapshot a killed run of ours left held; refuses one another tool holds. */
async function releaseStale(tpool: string, held: string, r: DiffRequest): Promise<void> {
  const status = (await dmsetup(["status", tpool], r.log)).trim().split(/\s+/);
  if (status[2] !== "thin-pool" || status[6] === undefined) {
    throw new BlockferryError(
      "E_SNAPSHOT",
      `dmsetup status ${tpool}: expected a thin-pool status, got ${status.join(" ")}`,
    );
  }
  if (status[6] === "-") {
    rmSync(held, { force: true });
    return;
  }
  if (!existsSync(held)) {
    throw new BlockferryError(
      "E_SNAPSHOT",
      `the pool ${r.vg}/${r.pool}'s metadata snapshot is held by another tool (the kernel allows one): not touching it`,
    );
  }
  r.log(`warning: releasing the metadata snapshot of ${r.vg}/${r.pool}, left held by a run that did not finish`);
  await release(tpool, held, r.log);
}

function dmsetup(args: string[], log: (line: string) => void): Promise<string> {
  return runTool("dmsetup", args, { pkg: "dmsetup", code: "E_SNAPSHOT", timeoutMs: TOOL_TIMEOUT_MS, log });
}
