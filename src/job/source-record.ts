/**
 * A host remembers which of its volumes it syncs from, so that none of them
 * is overwritten by a sync pointed the wrong way (SOURCE and DEST swapped, or
 * a failback run before the admin meant it): a receiver on this host refuses
 * to write a volume recorded here as a source (E_DIVERGED) unless forced,
 * and a forced sync into it makes it a copy, forgetting the record.
 * Records live in STATE-DIR/sources/, one file per volume identity.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, realpath, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { BlockferryError } from "../errors.js";
import { openVolume } from "../native/index.js";
import { quoted } from "../printable.js";
import { replaceFile } from "../replace-file.js";
import { volumeIdentity } from "./identity.js";

export interface SourceRecord {
  /** The real path (an image file's identity, device and inode, comes back once it is deleted: both must match). */
  path: string;
  identity: string;
  /** Where its last completed sync went, and when. */
  destination: string;
  at: string;
}

async function identityOf(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return undefined;
  if (!info.isBlockDevice()) return volumeIdentity(path, info.size);
  const volume = await openVolume(path);
  return volumeIdentity(path, volume.size).finally(() => volume.close());
}

function recordFile(stateDir: string, identity: string): string {
  return join(stateDir, "sources", `${createHash("sha256").update(identity).digest("hex").slice(0, 32)}.json`);
}

/** After a completed sync from `path`; a failure to record costs only this protection (said in a warning). */
export async function recordSource(stateDir: string, path: string, destination: string, log: (line: string) => void) {
  try {
    const identity = await identityOf(path);
    if (identity === undefined) return;
    const file = recordFile(stateDir, identity);
    await mkdir(join(stateDir, "sources"), { recursive: true });
    const record: SourceRecord = { path: await realpath(path), identity, destination, at: new Date().toISOString() };
    await replaceFile(file, `${JSON.stringify(record)}\n`, 0o600);
  } catch (e) {
    log(`warning: ${quoted(path)} is not recorded as a source in ${quoted(stateDir)}: ${(e as Error).message}`);
  }
}

/** The record of `path` as a source on this host, if there is one. */
export async function sourceRecordOf(stateDir: string, path: string): Promise<SourceRecord | undefined> {
  const identity = await identityOf(path);
  if (identity === undefined) return undefined;
  const text = await readFile(recordFile(stateDir, identity), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as SourceRecord;
    const isFile = identity.startsWith("file:");
    return r.identity === identity && (!isFile || r.path === (await realpath(path))) ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Before a receiver writes `path`: refused if it is a source of this host's
 * syncs, unless forced; a forced sync makes it a copy and forgets the record.
 */
export async function refuseSourceVolume(
  stateDir: string,
  path: string,
  target: string,
  force: boolean,
  log: (line: string) => void,
): Promise<void> {
  const record = await sourceRecordOf(stateDir, path);
  if (record === undefined) return;
  if (!force) {
    throw new BlockferryError(
      "E_DIVERGED",
      `target ${target}: ${quoted(path)} is this host's source of syncs to ${record.destination} (last ${record.at}): ` +
        "a sync into it would replace the primary's data with the copy's; check SOURCE and DEST, or pass --force to fail back into it",
    );
  }
  log(`${target}: ${quoted(path)} was the source of syncs to ${record.destination}; forced: it becomes a copy`);
  await rm(recordFile(stateDir, record.identity), { force: true });
}
