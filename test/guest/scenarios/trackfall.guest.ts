/**
 * Change tracking's fallbacks on a small thin LV: each time something keeps
 * the thin_delta diff from being trusted (base removed by hand, digest cache
 * deleted, origin extended, the pool's metadata snapshot held by another
 * tool), the night falls back to the hash delta with one line saying why and
 * ends byte-identical; the night after uses thin_delta again. A run killed
 * (kill -9) while thin_delta runs leaves the metadata snapshot held: the next
 * run releases it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import { expectSameBytes, fillSeeded, lvNames, MiB, makeThinLv, makeVg, scatterThin } from "../lib/lvm.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "trackfall";
const seed = testSeed("trackfall");
const origin = `/dev/${VG}/data`;
const image = join(s.dir, "copy.img");
const cacheDir = join(s.dir, "cache");
const tpool = `${VG}-pool-tpool`;
let size = 64 * MiB;
let nights = 0;
/** 4 KiB writes in each night, at scattered places. */
const WRITES = 40;

interface Night {
  summary: { changesFoundBy: string; bytes: { read: number; targetRead: number } };
  stderr: string;
}

function night(env?: Record<string, string>): Night {
  scatterThin(s, origin, size, WRITES, 1, seed + ++nights);
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", "--cache-dir", cacheDir, origin, image, "--create"], env);
  expect(r.code, r.stderr).toBe(0);
  expectSameBytes(s, image, origin);
  return { summary: JSON.parse(r.stdout), stderr: r.stderr };
}

function expectTracked(n: Night): void {
  expect(n.summary.changesFoundBy).toBe("thin_delta");
  expect(n.summary.bytes.read).toBeLessThan(size / 4);
  // The target reads only the blocks offered piece by piece, which the source read as changed.
  expect(n.summary.bytes.targetRead).toBeLessThanOrEqual(n.summary.bytes.read);
}

/** The pool's held metadata root as dmsetup status shows it ("-": none). */
function heldRoot(): string {
  return s.sh("dmsetup", "status", tpool).trim().split(/\s+/)[6] ?? "";
}

function base(): string {
  const found = lvNames(s, VG).find((n) => n.startsWith("data-bfbase-"));
  if (found === undefined) throw new Error("no base snapshot");
  return `${VG}/${found}`;
}

beforeAll(() => {
  makeVg(s, VG);
  makeThinLv(s, VG, "pool", "data", 512, 64);
  fillSeeded(s, origin, size, seed);
  const r = s.bf(["sync", "--json", "--snapshot", "lvm", "--cache-dir", cacheDir, origin, image, "--create"]);
  expect(r.code, r.stderr).toBe(0);
  expectTracked(night());
});

it("base snapshot removed by hand: hash delta (from the cache), then thin_delta again", () => {
  s.sh("lvremove", "-f", base());
  const n = night();
  expect(n.stderr).toMatch(/change tracking not used: no base snapshot trackfall\/data-bfbase-\w+ .*hash delta/);
  expect(n.summary.changesFoundBy).toBe("cache");
  expectTracked(night());
});

it("digest cache deleted: hash delta against the target's digests, then thin_delta again", () => {
  s.sh("rm", "-rf", cacheDir);
  const n = night();
  expect(n.stderr).toMatch(/change tracking not used: no digest cache is offered this run; comparing every block/);
  expect(n.summary.changesFoundBy).toBe("target digests");
  expectTracked(night());
});

it("metadata snapshot held by another tool: left alone, hash delta", () => {
  s.sh("dmsetup", "message", tpool, "0", "reserve_metadata_snap");
  const held = heldRoot();
  expect(held).not.toBe("-");
  const n = night();
  expect(n.stderr).toMatch(
    /change tracking not used: the pool trackfall\/pool's metadata snapshot is held by another tool/,
  );
  expect(n.summary.changesFoundBy).toBe("cache");
  expect(heldRoot()).toBe(held);
  s.sh("dmsetup", "message", tpool, "0", "release_metadata_snap");
  expectTracked(night());
});

it("kill -9 while thin_delta runs: the next run releases the held metadata snapshot", async () => {
  const fake = join(s.dir, "fakebin");
  const started = join(s.dir, "thin_delta-started");
  mkdirSync(fake, { recursive: true });
  writeFileSync(join(fake, "thin_delta"), `#!/bin/sh\necho $$ > ${started}\nexec sleep 120\n`);
  chmodSync(join(fake, "thin_delta"), 0o755);
  scatterThin(s, origin, size, WRITES, 1, seed + ++nights);
  const args = ["sync", "--json", "--snapshot", "lvm", "--cache-dir", cacheDir, origin, image];
  const child = s.bfStart(args, { PATH: `${fake}:${process.env.PATH}` });
  for (let i = 0; i < 600 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(started)).toBe(true);
  child.kill("SIGKILL");
  await child.output();
  process.kill(Number(readFileSync(started, "utf8").trim()), "SIGKILL");
  expect(heldRoot()).not.toBe("-");
  const n = night();
  expect(n.stderr).toMatch(
    /releasing the metadata snapshot of trackfall\/pool, left held by a run that did not finish/,
  );
  expectTracked(n);
  expect(heldRoot()).toBe("-");
});

it("origin extended: hash delta of the whole new size, then thin_delta again", () => {
  s.sh("lvextend", "-L", "+16M", `${VG}/data`);
  size += 16 * MiB;
  const n = night();
  expect(n.stderr).toMatch(/change tracking not used: trackfall\/data was resized since the base snapshot/);
  expect(n.summary.changesFoundBy).not.toBe("thin_delta");
  expectTracked(night());
});
