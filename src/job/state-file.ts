/**
 * The target's state file: JSON with a checksum, replaced atomically (written
 * beside, synced, renamed, directory synced), so a crash leaves the old state
 * or the new one, never a mix. An unreadable or tampered file is ignored with
 * a warning: the copy is then treated as new, never as complete.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { TargetState, TargetStateStore } from "../engine/state.js";
import { fromFsError } from "../errors.js";

const MAX_STATE_BYTES = 64 * 1024;

function checksum(state: TargetState): string {
  return createHash("sha256").update(JSON.stringify(state)).digest("hex");
}

function isState(v: unknown): v is TargetState {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    s.version === 1 &&
    typeof s.complete === "boolean" &&
    typeof s.verified === "boolean" &&
    (s.mode === "copy" || s.mode === "compare") &&
    typeof s.sourceId === "string" &&
    typeof s.targetId === "string" &&
    Number.isSafeInteger(s.sourceSize) &&
    Number.isSafeInteger(s.blockSize) &&
    typeof s.seed === "string" &&
    /^\d{1,20}$/.test(s.seed) &&
    Number.isSafeInteger(s.blocksDone) &&
    typeof s.fingerprint === "string" &&
    /^[0-9a-f]{32}$/.test(s.fingerprint) &&
    (s.generation === undefined || Number.isSafeInteger(s.generation)) &&
    (s.stamp === undefined || typeof s.stamp === "string") &&
    (s.pausedStamp === undefined || typeof s.pausedStamp === "string") &&
    typeof s.startedAt === "string" &&
    typeof s.updatedAt === "string" &&
    (s.lastSync === undefined || isLastSync(s.lastSync)) &&
    (s.writerPid === undefined || Number.isSafeInteger(s.writerPid)) &&
    (s.dirs === undefined || (Array.isArray(s.dirs) && s.dirs.every(isPlacedDir))) &&
    (s.good === undefined || isGoodCopy(s.good)) &&
    (s.promotedAt === undefined || typeof s.promotedAt === "string") &&
    (s.lostGood === undefined || isLostGood(s.lostGood))
  );
}

function isLostGood(v: unknown): boolean {
  const l = v as Record<string, unknown>;
  return typeof v === "object" && v !== null && typeof l.at === "string" && typeof l.why === "string";
}

function isGoodCopy(v: unknown): boolean {
  const g = v as Record<string, unknown>;
  const r = g?.record as Record<string, unknown> | undefined;
  return (
    typeof v === "object" &&
    v !== null &&
    (g.method === "reflink" || g.method === "lvm") &&
    typeof g.where === "string" &&
    typeof g.preservedAt === "string" &&
    typeof r === "object" &&
    r !== null &&
    typeof r.sourceId === "string" &&
    Number.isSafeInteger(r.sourceSize) &&
    Number.isSafeInteger(r.blockSize) &&
    typeof r.seed === "string" &&
    /^\d{1,20}$/.test(r.seed) &&
    typeof r.fingerprint === "string" &&
    /^[0-9a-f]{32}$/.test(r.fingerprint) &&
    Number.isSafeInteger(r.generation) &&
    (r.lastSync === undefined || isLastSync(r.lastSync)) &&
    (r.dirs === undefined || (Array.isArray(r.dirs) && r.dirs.every(isPlacedDir)))
  );
}

function isLastSync(v: unknown): boolean {
  const l = v as Record<string, unknown>;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof l.at === "string" &&
    typeof l.sourceId === "string" &&
    Number.isSafeInteger(l.generation) &&
    (l.mode === "copy" || l.mode === "compare" || l.mode === "cached") &&
    (l.tracked === undefined || l.tracked === true) &&
    typeof l.seconds === "number" &&
    Number.isSafeInteger(l.bytesIn) &&
    Number.isSafeInteger(l.bytesOut) &&
    typeof l.reread === "boolean"
  );
}

function isPlacedDir(v: unknown): boolean {
  const d = v as Record<string, unknown>;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof d.path === "string" &&
    typeof d.at === "string" &&
    Number.isSafeInteger(d.entries) &&
    Number.isSafeInteger(d.bytes)
  );
}

export class FileStateStore implements TargetStateStore {
  readonly path: string;
  readonly #warn: (line: string) => void;

  constructor(path: string, warn: (line: string) => void = () => {}) {
    this.path = path;
    this.#warn = warn;
  }

  async load(): Promise<TargetState | undefined> {
    let text: string;
    try {
      const handle = await open(this.path, constants.O_RDONLY);
      try {
        const { size } = await handle.stat();
        if (size > MAX_STATE_BYTES) {
          this.#warn(`state file ${this.path} is ${size} bytes, too large: ignored`);
          return undefined;
        }
        text = await handle.readFile("utf8");
      } finally {
        await handle.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw fromFsError(e, `cannot read the state file ${this.path}`);
    }
    try {
      const parsed = JSON.parse(text) as { state?: unknown; checksum?: unknown };
      // A state written before generations were counted has none: 0.
      if (isState(parsed.state) && parsed.checksum === checksum(parsed.state))
        return { ...parsed.state, generation: parsed.state.generation ?? 0 };
    } catch {
      // falls through to the warning
    }
    this.#warn(`state file ${this.path} is damaged: ignored (the copy is treated as new)`);
    return undefined;
  }

  async save(state: TargetState): Promise<void> {
    try {
      await this.#save(state);
    } catch (e) {
      throw fromFsError(e, `cannot save the state file ${this.path}`);
    }
  }

  async #save(state: TargetState): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(`${JSON.stringify({ state, checksum: checksum(state) }, null, 2)}\n`);
      await handle.sync();
    } catch (e) {
      // A full filesystem, say: leave nothing half-written behind.
      await handle.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await handle.close();
    try {
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const d = await open(dir, constants.O_RDONLY);
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
