/**
 * The base of change tracking: the thin snapshot a verified sync read, kept
 * until the next night (a thin snapshot costs nothing until its origin is
 * written), named for the destination and tagged with that sync's
 * fingerprint:
 *
 *   NAME   LV-bfbase-HASH (HASH: 8 hex of the destination's key)
 *   TAGS   blockferry, blockferry-base, bffp-FINGERPRINT
 *
 *   lvs REPORT -o lv_name,origin,lv_tags,lv_size,pool_lv,thin_id,segtype,... -- VG
 *                          (taken with the snapshot, lvm.ts; again before the old base is removed)
 *   (the diff: thin-metadata.ts)
 *   lvchange --addtag blockferry-base --addtag bffp-F VG/NEW     after a verified sync,
 *   lvremove -f VG/BASE; lvrename VG NEW BASE        the new snapshot replaces the old base
 */
import { createHash } from "node:crypto";
import { BlockferryError } from "../errors.js";
import { type LvmSnapshot, type ThinRow as Row, THIN_FIELDS } from "./lvm.js";
import { lvm, lvs } from "./lvm-tools.js";
import type { ThinDelta } from "./thin-delta.js";
import { diffThin } from "./thin-metadata.js";

const TAG = "blockferry";
const BASE_TAG = "blockferry-base";
const FINGERPRINT_TAG = "bffp-";

export interface TrackedDiff {
  delta: ThinDelta;
  /** The fingerprint of the sync that read the base. */
  baseFingerprint: string;
  diffSeconds: number;
}

/** LV-bfbase-HASH, the LV name cut so that it stays within LVM's 127 characters. */
export function baseName(lv: string, destinationKey: string): string {
  const hash = createHash("sha256").update(destinationKey).digest("hex").slice(0, 8);
  return `${lv.slice(0, 127 - 16)}-bfbase-${hash}`;
}

/**
 * The changes since the base of `destinationKey`, diffed with thin_delta; a
 * BlockferryError saying why when there is no usable base or the diff fails.
 */
export async function diffSinceBase(
  snapshot: LvmSnapshot,
  destinationKey: string,
  lockDir: string,
  log: (line: string) => void,
): Promise<TrackedDiff> {
  const all = snapshot.listedWith === undefined ? await rows(snapshot.vg, log) : byName(snapshot.listedWith);
  const name = baseName(snapshot.origin, destinationKey);
  const base = all.get(name);
  const now = all.get(snapshot.name);
  const full = `${snapshot.vg}/${name}`;
  const refuse = (why: string) => new BlockferryError("E_SNAPSHOT", why);
  if (base === undefined) throw refuse(`no base snapshot ${full} (the first change-tracked run keeps one)`);
  if (now === undefined || now.segtype !== "thin")
    throw refuse(`${snapshot.vg}/${snapshot.name} is not a thin snapshot`);
  const tags = base.lv_tags.split(",");
  if (base.origin !== snapshot.origin || !tags.includes(TAG) || !tags.includes(BASE_TAG) || base.segtype !== "thin") {
    throw refuse(`${full} is not our base snapshot of ${snapshot.vg}/${snapshot.origin}`);
  }
  if (base.pool_lv !== now.pool_lv) throw refuse(`the base snapshot ${full} is in another pool`);
  if (base.lv_size !== now.lv_size)
    throw refuse(`${snapshot.vg}/${snapshot.origin} was resized since the base snapshot`);
  const fingerprint = tags.find((t) => t.startsWith(FINGERPRINT_TAG))?.slice(FINGERPRINT_TAG.length) ?? "";
  if (!/^[0-9a-f]{32}$/.test(fingerprint)) throw refuse(`the base snapshot ${full} has no fingerprint tag`);
  const started = performance.now();
  const delta = await diffThin({
    vg: snapshot.vg,
    pool: now.pool_lv,
    oldId: thinId(base, full),
    newId: thinId(now, `${snapshot.vg}/${snapshot.name}`),
    lockDir,
    log,
  });
  return { delta, baseFingerprint: fingerprint, diffSeconds: (performance.now() - started) / 1000 };
}

/**
 * After a verified sync from `snapshot`: it becomes the base for
 * `destinationKey` (the old base, if ours, removed first) and is no longer
 * removed at the end of the job. A crash in between leaves no base (the next
 * run falls back to the hash delta) or a stray snapshot (removed next run).
 */
export async function keepAsBase(
  snapshot: LvmSnapshot,
  destinationKey: string,
  fingerprint: string,
  log: (line: string) => void,
): Promise<string> {
  const name = baseName(snapshot.origin, destinationKey);
  // Tagged first: a crash before the rename leaves our LV-blockferry-snap, which the next run removes.
  const addTags = ["--addtag", BASE_TAG, "--addtag", `${FINGERPRINT_TAG}${fingerprint}`];
  await lvm("lvchange", [...addTags, `${snapshot.vg}/${snapshot.name}`], log);
  const old = (await rows(snapshot.vg, log)).get(name);
  if (old !== undefined) {
    if (old.origin !== snapshot.origin || !old.lv_tags.split(",").includes(TAG)) {
      throw new BlockferryError("E_SNAPSHOT", `${snapshot.vg}/${name} exists but is not ours: not touching it`);
    }
    await lvm("lvremove", ["-f", `${snapshot.vg}/${name}`], log);
  }
  await lvm("lvrename", [snapshot.vg, snapshot.name, name], log);
  snapshot.keep();
  return `${snapshot.vg}/${name}`;
}

function thinId(row: Row, full: string): number {
  const id = Number(row.thin_id);
  if (row.thin_id === "" || !Number.isSafeInteger(id) || id < 0) {
    throw new BlockferryError("E_SNAPSHOT", `lvs: ${full} has no thin device id (got "${row.thin_id}")`);
  }
  return id;
}

async function rows(vg: string, log: (line: string) => void): Promise<Map<string, Row>> {
  return byName(await lvs(THIN_FIELDS, vg, log));
}

function byName(listed: readonly Row[]): Map<string, Row> {
  return new Map(listed.map((r) => [r.lv_name, r]));
}
