/**
 * What a target's state file says about its copy, for `blockferry status` on
 * the secondary: found beside an image file, or for a block device in the
 * state directory by the volume's identity (whatever name it was written under).
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { TargetState } from "../engine/state.js";
import { openVolume } from "../native/index.js";
import { volumeIdentity } from "./identity.js";
import { FileStateStore } from "./state-file.js";

export interface TargetStatus {
  target: string;
  stateFile: string | undefined;
  /** The copy is whole and its fingerprint matched the source's. */
  complete: boolean;
  /** A sync has started since the last completed one and has not finished (or failed). */
  interrupted: boolean;
  generation: number;
  lastSync: TargetState["lastSync"];
  dirs: NonNullable<TargetState["dirs"]>;
  /** Seconds since the last completed sync (undefined: never completed). */
  ageSeconds: number | undefined;
}

export async function targetStatus(path: string, stateDir: string, log: (line: string) => void): Promise<TargetStatus> {
  const found = await findState(path, stateDir, log);
  const state = found?.state;
  const completedAt = state?.lastSync?.at ?? state?.completedAt;
  return {
    target: path,
    stateFile: found?.path,
    complete: state?.complete === true && state.verified,
    interrupted: state !== undefined && !state.complete && completedAt !== undefined,
    generation: state?.generation ?? 0,
    lastSync: state?.lastSync,
    dirs: state?.dirs ?? [],
    ageSeconds: completedAt === undefined ? undefined : (Date.now() - Date.parse(completedAt)) / 1000,
  };
}

async function findState(
  path: string,
  stateDir: string,
  log: (line: string) => void,
): Promise<{ path: string; state: TargetState } | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isBlockDevice()) {
    const file = `${path}.blockferry-state.json`;
    const state = await new FileStateStore(file, log).load();
    return state === undefined ? undefined : { path: file, state };
  }
  const volume = await openVolume(path);
  const identity = await volumeIdentity(path, volume.size).finally(() => volume.close());
  const names = await readdir(stateDir).catch(() => [] as string[]);
  let best: { path: string; state: TargetState } | undefined;
  for (const name of names.filter((n) => n.endsWith(".state.json"))) {
    const file = join(stateDir, name);
    const state = await new FileStateStore(file, log).load();
    if (state?.targetId !== identity) continue;
    if (best === undefined || state.updatedAt > best.state.updatedAt) best = { path: file, state };
  }
  return best;
}
