/**
 * Inside the guest: real LVM for scenarios. A volume group on the scenario's
 * own disk, LVs filled with seeded bytes, the LVs `lvs -a` lists, and the
 * checks every scenario ends with: byte equality (cmp) and no snapshot left.
 */
import { closeSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { seededBytes, seededInts } from "../../helpers/random.js";
import type { Scenario } from "./scenario.js";

export const MiB = 2 ** 20;

export interface Lv {
  name: string;
  attr: string;
  origin: string;
  tags: string[];
  segtype: string;
  active: boolean;
  /** bytes */
  size: number;
}

/** A volume group named `vg` on the scenario's disk (extents of 4 MiB, LVM's default). */
export function makeVg(s: Scenario, vg: string): void {
  s.sh("pvcreate", "-y", s.disk);
  s.sh("vgcreate", vg, s.disk);
}

/** A plain (thick) LV of `mib` MiB; its path. */
export function makeLv(s: Scenario, vg: string, name: string, mib: number): string {
  s.sh("lvcreate", "-y", "-W", "n", "-L", `${mib}M`, "-n", name, vg);
  return `/dev/${vg}/${name}`;
}

/** A thin pool of `poolMib` and a thin LV of `mib` in it; the thin LV's path. */
export function makeThinLv(s: Scenario, vg: string, pool: string, name: string, poolMib: number, mib: number): string {
  s.sh("lvcreate", "-y", "--type", "thin-pool", "-L", `${poolMib}M`, "-n", pool, vg);
  s.sh("lvcreate", "-y", "-W", "n", "-V", `${mib}M`, "--thin", `${vg}/${pool}`, "-n", name);
  return `/dev/${vg}/${name}`;
}

/** Writes `bytes` seeded bytes at `offset` of a device or file, through to the disk. */
export function writeSeeded(s: Scenario, path: string, offset: number, bytes: number, seed: number): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, seededBytes(bytes, seed), 0, bytes, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  s.log(`wrote ${bytes} seeded bytes (seed ${seed}) at ${offset} of ${path}`);
}

const LV_FIELDS = "lv_name,lv_attr,origin,lv_tags,segtype,lv_active,lv_size";
const REPORT = ["--noheadings", "--nosuffix", "--units", "b", "--separator", "|", "-o", LV_FIELDS];

/** Every LV of `vg`, hidden ones too (`lvs -a`). */
export function lvsOf(s: Scenario, vg: string): Lv[] {
  return parseLvs(s.sh("lvs", "-a", ...REPORT, vg));
}

function parseLvs(out: string): Lv[] {
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => {
      const [name = "", attr = "", origin = "", tags = "", segtype = "", active = "", size = ""] = l.split("|");
      const lv = { name, attr, origin, segtype, active: active === "active", size: Number(size) };
      return { ...lv, tags: tags === "" ? [] : tags.split(",") };
    });
}

let recorders = 0;

/**
 * A --post-snapshot hook that records blockferry's snapshot as LVM reports it
 * while it exists; `seen()` reads that record.
 */
export function snapshotRecorder(s: Scenario, vg: string, origin: string) {
  const file = join(s.dir, `snapshot-seen-${++recorders}`);
  const snapshot = `${vg}/${origin}-blockferry-snap`;
  const command = `${["lvs", ...REPORT.map((w) => (w === "|" ? "'|'" : w)), snapshot].join(" ")} > ${file}`;
  return {
    command,
    flags: ["--post-snapshot", command],
    seen(): Lv {
      const [lv] = parseLvs(readFileSync(file, "utf8"));
      if (lv === undefined) throw new Error(`the hook saw no ${snapshot}`);
      return lv;
    },
  };
}

/** Free bytes in `vg`. */
export function vgFree(s: Scenario, vg: string): number {
  return Number(s.sh("vgs", "--noheadings", "--nosuffix", "--units", "b", "-o", "vg_free", vg).trim());
}

/** The names of `vg`'s visible LVs, sorted. */
export function lvNames(s: Scenario, vg: string): string[] {
  return lvsOf(s, vg)
    .map((lv) => lv.name)
    .filter((n) => !n.startsWith("["))
    .sort();
}

/** No snapshot of any kind in `vg` (classic or thin), and nothing tagged blockferry. */
export function expectNoSnapshot(s: Scenario, vg: string): void {
  const left = lvsOf(s, vg).filter((lv) => lv.origin !== "" || /^[sS]/.test(lv.attr) || lv.tags.includes("blockferry"));
  expect(left, "snapshots left behind").toEqual([]);
}

/** Byte equality of the first `bytes` of two devices or files (cmp). */
export function expectSameBytes(s: Scenario, a: string, b: string, bytes?: number): void {
  const r = s.run("cmp", [...(bytes === undefined ? [] : ["-n", String(bytes)]), a, b]);
  expect(r.code, `cmp ${a} ${b}: ${r.stdout}${r.stderr}`).toBe(0);
}

/** Fills `bytes` of a device with seeded bytes, 64 MiB at a time (a 1 GiB buffer would crowd the guest). */
export function fillSeeded(s: Scenario, path: string, bytes: number, seed: number): void {
  const piece = 64 * MiB;
  for (let at = 0; at < bytes; at += piece) writeSeeded(s, path, at, Math.min(piece, bytes - at), seed + at / piece);
}

/**
 * Changes a thin LV the way a night of use does: `writes` 4 KiB writes at
 * scattered 4 KiB-aligned places (every `same`-th one writes back the bytes
 * that were there), then `discards` 64 KiB chunks discarded (blkdiscard).
 * Returns the 64 KiB chunks written and those discarded last.
 */
export function scatterThin(s: Scenario, lv: string, size: number, writes: number, discards: number, seed: number) {
  const pick = seededInts(seed);
  const written = new Set<number>();
  const fd = openSync(lv, "r+");
  try {
    for (let i = 0; i < writes; i++) {
      const at = pick(size / 4096) * 4096;
      const bytes = i % 10 === 9 ? readAt(fd, at) : seededBytes(4096, seed + i);
      writeSync(fd, bytes, 0, 4096, at);
      written.add(Math.floor(at / 65536));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const discarded = new Set<number>();
  for (let i = 0; i < discards; i++) {
    const chunk = pick(size / 65536);
    s.sh("blkdiscard", "-o", String(chunk * 65536), "-l", "65536", lv);
    discarded.add(chunk);
    written.delete(chunk);
  }
  s.log(`scattered ${writes} writes over ${written.size} chunks, discarded ${discarded.size} chunks (seed ${seed})`);
  return { written, discarded };
}

function readAt(fd: number, at: number): Buffer {
  const b = Buffer.alloc(4096);
  readSync(fd, b, 0, 4096, at);
  return b;
}
