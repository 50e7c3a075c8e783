/**
 * Change tracking's fallbacks on a small thin LV: each time something keeps
 * the thin_delta diff from being trusted (base removed by hand, an LV by the
 * base's name that is not our base of this origin, digest cache deleted,
 * origin extended, the pool's metadata snapshot held by another tool,
 * thin_delta failing, printing what we do not understand, or not installed),
 * the night falls back to the hash delta with one line saying why and ends
 * byte-identical; the night after uses thin_delta again. An LV by the base's
 * name that is not ours is never removed. A run killed (kill -9) while
 * thin_delta runs leaves the metadata snapshot held: the next run releases it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import { expectSameBytes, fillSeeded, lvNames, MiB, makeThinLv, makeVg, scatterThin } from "../lib/lvm.js";
import type { NightSummary } from "../lib/nights.js";
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
  summary: Pick<NightSummary, "changesFoundBy" | "bytes">;
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

/** A hash delta: from the cache, or from the target's digests on the night --cache-runs has the target read its copy. */
function expectHashDelta(n: Night): void {
  expect(["cache", "target digests"]).toContain(n.summary.changesFoundBy);
}

/** The pool's held metadata root as dmsetup status shows it ("-": none). */
function heldRoot(): string {
  return s.sh("dmsetup", "status", tpool).trim().split(/\s+/)[6] ?? "";
}

/**
 * A night next to an LV by the base's name that is not ours: the hash delta, its snapshot not
 * kept in that name's place but removed (not left for the next run to clean up).
 */
function expectForeignBaseRefused(n: Night): void {
  expect(n.stderr).toMatch(
    /change tracking not used: trackfall\/data-bfbase-\w+ is not our base snapshot of trackfall\/data/,
  );
  expect(n.stderr).toMatch(/the snapshot is not kept for change tracking: .* exists but is not ours: not touching it/);
  expectHashDelta(n);
  expect(lvNames(s, VG).filter((name) => name.includes("blockferry-snap"))).toEqual([]);
}

function lvTags(lv: string): string {
  return s.sh("lvs", "--noheadings", "-o", "lv_tags", lv).trim();
}

function lvOrigin(lv: string): string {
  return s.sh("lvs", "--noheadings", "-o", "origin", lv).trim();
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

it("an LV by the base's name that is not ours (the user's own snapshot): hash delta, the LV left alone", () => {
  const ours = base();
  s.sh("lvremove", "-f", ours);
  // The user's snapshot of the same origin, by the name our base has, with none of our tags.
  s.sh("lvcreate", "-s", "-n", ours.split("/")[1] as string, `${VG}/data`);
  const n = night();
  expectForeignBaseRefused(n);
  expect(lvTags(ours)).toBe("");
  s.sh("lvremove", "-f", ours);
  night(); // keeps a base again
  expectTracked(night());
});

it("our base's name and tags on a snapshot of another LV: hash delta, that LV left alone", () => {
  const ours = base();
  const tags = lvTags(ours);
  s.sh("lvremove", "-f", ours);
  s.sh("lvcreate", "-y", "-W", "n", "-V", "16M", "--thin", `${VG}/pool`, "-n", "other");
  s.sh(
    "lvcreate",
    "-s",
    "-n",
    ours.split("/")[1] as string,
    ...tags.split(",").flatMap((t) => ["--addtag", t]),
    `${VG}/other`,
  );
  const n = night();
  expectForeignBaseRefused(n);
  expect(lvOrigin(ours)).toBe("other");
  s.sh("lvremove", "-f", ours, `${VG}/other`);
  night();
  expectTracked(night());
});

it("thin_delta failing, printing what it should not, or not installed: hash delta, the metadata snapshot released", () => {
  const fakes: Array<[string, string]> = [
    ["fails", "#!/bin/sh\necho 'thin_delta: metadata checksum mismatch' >&2\nexit 1\n"],
    // A well-formed diff of the very snapshots asked for, with an element the parser does not know.
    [
      "garbage",
      '#!/bin/sh\necho "<superblock uuid=\\"\\" time=\\"1\\" transaction=\\"1\\" data_block_size=\\"128\\" nr_data_blocks=\\"0\\"><diff left=\\"$3\\" right=\\"$5\\"><moved begin=\\"0\\" length=\\"1\\"/></diff></superblock>"\n',
    ],
  ];
  const why = {
    fails: /change tracking not used: thin_delta failed with exit code 1: thin_delta: metadata checksum mismatch;/,
    garbage: /change tracking not used: thin_delta: unexpected output: unknown element <moved> in <diff>/,
  };
  for (const [name, script] of fakes) {
    const bin = join(s.dir, `thin_delta-${name}`);
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "thin_delta"), script);
    chmodSync(join(bin, "thin_delta"), 0o755);
    const n = night({ PATH: `${bin}:${process.env.PATH}` });
    expect(n.stderr).toMatch(why[name as keyof typeof why]);
    expectHashDelta(n);
    expect(heldRoot()).toBe("-");
  }
  // Not installed: a PATH with LVM's tools and dmsetup, and no thin_delta.
  const bin = join(s.dir, "no-thin-delta");
  mkdirSync(bin, { recursive: true });
  for (const tool of ["lvs", "lvcreate", "lvchange", "lvremove", "lvrename", "lvconvert", "dmsetup"]) {
    symlinkSync(s.sh("sh", "-c", `command -v ${tool}`).trim(), join(bin, tool));
  }
  const n = night({ PATH: bin });
  expect(n.stderr).toMatch(
    /change tracking not used: thin_delta not found: install the thin-provisioning-tools package/,
  );
  expectHashDelta(n);
  expect(heldRoot()).toBe("-");
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
  expectHashDelta(n);
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
