/**
 * Inside the guest: a BackupPC pool in miniature for the README walk-through.
 * A night's backups are seeded files in pool/ with hard links to them under
 * pc/ (what makes file-level copies of a real pool slow); a tree's digest is
 * the digest of every file's path and sha256, how many files there are and
 * how many of them are hard-linked.
 */
import { linkSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seededBytes, seededInts } from "../../helpers/random.js";
import type { Host } from "./hosts.js";
import type { Scenario } from "./scenario.js";

/** About `mib` MiB of new backups, staged in a scratch folder (shared by both hosts): its path. */
export function backupRun(s: Scenario, seed: number, mib: number): string {
  const stage = mkdtempSync(join(s.dir, "backups-"));
  const pool = join(stage, "pool", String(seed));
  const pc = join(stage, "pc", "client", String(seed));
  mkdirSync(pool, { recursive: true });
  mkdirSync(pc, { recursive: true });
  const pick = seededInts(seed);
  let left = mib * 2 ** 20;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, 4096 * (1 + pick(64)));
    writeFileSync(join(pool, `f${i}`), seededBytes(size, seed * 1000 + i));
    linkSync(join(pool, `f${i}`), join(pc, `f${i}`));
    left -= size;
  }
  s.log(`staged ${mib} MiB of backups (seed ${seed}) in ${stage}`);
  return stage;
}

/** The digest of the tree at `dir` on `host`. */
export function treeDigest(host: Host, dir: string): string {
  const r = host.sh(
    `cd ${dir} && { find . -type f -not -path './lost+found/*' -print0 | sort -z | xargs -0 -r sha256sum | sha256sum; find . -type f | wc -l; find . -type f -links +1 | wc -l; }`,
  );
  if (r.code !== 0) throw new Error(`digest of ${dir} on ${host.role}: ${r.stderr}`);
  return r.stdout;
}

/** The digest of the filesystem on `device` (not mounted), mounted read-only without replaying its journal. */
export function copyDigest(host: Host, device: string): string {
  const at = "/run/copy-check";
  const r = host.sh(`mkdir -p ${at} && mount -o ro,noload ${device} ${at}`);
  if (r.code !== 0) throw new Error(`mount ${device} on ${host.role}: ${r.stderr}`);
  try {
    return treeDigest(host, at);
  } finally {
    host.sh(`umount ${at}`);
  }
}
