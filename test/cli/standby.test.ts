/**
 * The standby can take over at any moment (issue 18), on image targets: a
 * copy written since its last sync is never overwritten unless forced; the
 * last good copy is kept (a reflink clone on XFS) through every sync that
 * does not finish; `promote` makes the copy the primary's, restoring the
 * good copy when needed; the old primary's syncs are then refused; failback
 * is an ordinary delta the other way.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { FileStateStore } from "../../src/job/state-file.js";
import { run, start } from "../helpers/cli.js";
import { scatter, writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { testSeed } from "../helpers/random.js";
import { mountXfs, type Xfs, xfsUnavailable } from "../helpers/xfs.js";

const skip = xfsUnavailable();
const scratch = scratchDir();
let xfs: Xfs | undefined;
beforeAll(() => {
  if (skip === undefined) xfs = mountXfs(join(scratch.dir, "xfs"));
});
afterAll(() => {
  xfs?.remove();
  scratch.remove();
});

const SIZE = 48 << 20;
const state = (image: string) => JSON.parse(readFileSync(`${image}.blockferry-state.json`, "utf8")).state;

/** A sync slowed down and killed with SIGKILL (both roles: the primary dying) once it has written something. */
async function interruptedSync(source: string, copy: string, extra = ["--keep-good", "reflink"]): Promise<void> {
  const child = start(["sync", "--bwlimit", "8M", ...extra, source, copy], {
    BLOCKFERRY_STATUS_SECONDS: "0.2",
  });
  let progress = "";
  child.stderr?.on("data", (d: Buffer) => {
    progress += d.toString();
  });
  for (let i = 0; i < 400 && !/sent [1-9][\d.]* MiB/.test(progress); i++) await new Promise((r) => setTimeout(r, 50));
  child.kill("SIGKILL");
  await child.output();
  expect(state(copy).complete).toBe(false);
}

/** A source, its first night copied to `copy` on XFS, and the data of that night. */
async function firstNight(name: string, seed: number) {
  const dir = join(xfs?.dir ?? "", name);
  mkdirSync(dir, { recursive: true });
  const source = join(scratch.dir, `${name}-primary.img`);
  const copy = join(dir, "copy.img");
  const night1 = writeMixedImage(source, SIZE, seed);
  const first = await run(["sync", "-q", "--create", "--keep-good", "reflink", source, copy]);
  expect(first.code, first.stderr).toBe(EXIT.ok);
  expect(existsSync(`${copy}.blockferry-good`)).toBe(false); // nothing kept once a sync is verified
  return { source, copy, night1, good: `${copy}.blockferry-good` };
}

describe.skipIf(skip !== undefined)("the standby (image targets, reflinks on XFS)", () => {
  it("refuses to overwrite a copy written since its last sync, --dry-run says so too, --force overwrites it", async () => {
    const n = await firstNight("diverged", testSeed("diverged"));
    scatter(n.copy, 10, 99); // the standby took over and wrote
    const held = sha256(n.copy);
    for (const extra of [[], ["--dry-run"], ["--full"]]) {
      const r = await run(["sync", "-q", "--keep-good", "reflink", ...extra, n.source, n.copy]);
      expect(r.code, r.stderr).toBe(EXIT.diverged);
      expect(r.stderr).toMatch(/was written since its last sync .* sync the other way .* or pass --force/);
      expect(sha256(n.copy)).toBe(held);
    }
    const forced = await run(["sync", "-q", "--keep-good", "reflink", "--force", n.source, n.copy]);
    expect(forced.code, forced.stderr).toBe(EXIT.ok);
    expect(sha256(n.copy)).toBe(sha256(n.source));
  });

  it("keeps the last good copy through syncs that do not finish, and drops it once one is verified", async () => {
    const seed = testSeed("keep good");
    const n = await firstNight("keep", seed);
    const night2 = writeMixedImage(n.source, SIZE, seed + 1); // every block changes
    await interruptedSync(n.source, n.copy);
    expect(readFileSync(n.good).equals(n.night1)).toBe(true);
    const st = await run(["status", "--json", n.copy]);
    expect(st.code, st.stderr).toBe(EXIT.ok); // a usable standby exists
    expect(JSON.parse(st.stdout)).toMatchObject({ complete: false, good: { method: "reflink", generation: 1 } });
    expect((await run(["status", n.copy])).stdout).toMatch(
      /kept good copy: generation 1.*`blockferry promote` makes it the volume/,
    );
    // Another sync that does not finish keeps the same good copy, never the half-written one.
    await interruptedSync(n.source, n.copy);
    expect(readFileSync(n.good).equals(n.night1)).toBe(true);
    const done = await run(["sync", "-q", "--keep-good", "reflink", n.source, n.copy]);
    expect(done.code, done.stderr).toBe(EXIT.ok);
    expect(readFileSync(n.copy).equals(night2)).toBe(true);
    expect(existsSync(n.good)).toBe(false);
    expect(state(n.copy)).toMatchObject({ complete: true, generation: 2 });
  });

  it("promote finishes after one that stopped once the kept copy was used up; refuses when the volume is not that copy", async () => {
    const seed = testSeed("promote again");
    const n = await firstNight("again", seed);
    writeMixedImage(n.source, SIZE, seed + 1);
    await interruptedSync(n.source, n.copy);
    // As an LVM merge leaves it: the volume restored, the kept copy gone, the record not yet saved.
    writeFileSync(n.copy, readFileSync(n.good));
    rmSync(n.good);
    const p = await run(["promote", n.copy]);
    expect(p.code, p.stderr).toBe(EXIT.ok);
    expect(p.stderr).toMatch(/a promote that stopped after restoring it\): finishing the promotion/);
    expect(state(n.copy)).toMatchObject({ complete: true, generation: 1, promotedAt: expect.any(String) });

    const m = await firstNight("gone", seed + 2);
    writeMixedImage(m.source, SIZE, seed + 3);
    await interruptedSync(m.source, m.copy);
    rmSync(m.good); // gone, and the volume holds the unfinished sync
    const held = sha256(m.copy);
    const refused = await run(["promote", m.copy]);
    expect(refused.code, refused.stderr).toBe(EXIT.notFound);
    expect(refused.stderr).toMatch(/its kept good copy .* is gone/);
    expect(sha256(m.copy)).toBe(held);
    expect(state(m.copy)).toMatchObject({ complete: false });
  });

  it("a kept copy recorded anywhere but beside the image (an edited state file) is never cloned back nor removed", async () => {
    const seed = testSeed("kept elsewhere");
    const n = await firstNight("elsewhere", seed);
    writeMixedImage(n.source, SIZE, seed + 1);
    await interruptedSync(n.source, n.copy);
    const victim = join(scratch.dir, "elsewhere-victim.img");
    writeFileSync(victim, "not a copy");
    const store = new FileStateStore(`${n.copy}.blockferry-state.json`, () => {});
    const recorded = await store.load();
    if (recorded?.good === undefined) throw new Error("no kept copy on record");
    await store.save({ ...recorded, good: { ...recorded.good, where: victim } });
    const held = sha256(n.copy);
    const p = await run(["promote", n.copy]);
    expect(p.code, p.stderr).toBe(EXIT.snapshot);
    expect(p.stderr).toMatch(/is recorded at .*elsewhere-victim\.img.* not touching/);
    expect(sha256(n.copy)).toBe(held);
    // A sync goes on (the volume holds an unfinished one), warns, and leaves that file alone.
    const done = await run(["sync", "--keep-good", "reflink", n.source, n.copy]);
    expect(done.code, done.stderr).toBe(EXIT.ok);
    expect(done.stderr).toMatch(/not touching .*elsewhere-victim\.img/);
    expect(readFileSync(victim, "utf8")).toBe("not a copy");
  });

  it("promote after a sync that did not finish restores the good copy; the old primary is refused; failback by delta", async () => {
    const seed = testSeed("promote");
    const n = await firstNight("promote", seed);
    writeMixedImage(n.source, SIZE, seed + 1);
    await interruptedSync(n.source, n.copy);
    const p = await run(["promote", n.copy]);
    expect(p.code, p.stderr).toBe(EXIT.ok);
    expect(p.stdout).toMatch(/is promoted: it holds generation 1.*restored from the kept good copy/);
    expect(p.stdout).toMatch(/systemctl disable --now blockferry-nightly\.timer/);
    expect(readFileSync(n.copy).equals(n.night1)).toBe(true);
    const st = await run(["status", "--json", n.copy]);
    expect(st.code).toBe(EXIT.ok);
    expect(JSON.parse(st.stdout)).toMatchObject({ complete: true, promotedAt: expect.any(String) });
    // The old primary's next night (a timer that catches up at boot) is refused; the copy is untouched.
    const late = await run(["sync", "-q", "--keep-good", "reflink", n.source, n.copy]);
    expect(late.code, late.stderr).toBe(EXIT.promoted);
    expect(late.stderr).toMatch(/was promoted at .* serves as the primary/);
    expect(readFileSync(n.copy).equals(n.night1)).toBe(true);
    // The secondary serves: new data lands on it. Failback: a delta into the repaired primary, which
    // this host knows as a source: forced, as a sync pointed the wrong way would not be.
    scatter(n.copy, 20, seed + 2);
    const served = readFileSync(n.copy);
    const primaryNow = sha256(n.source);
    const unforced = await run(["sync", "-q", n.copy, n.source]);
    expect(unforced.code, unforced.stderr).toBe(EXIT.diverged);
    expect(unforced.stderr).toMatch(
      /is this host's source of syncs to .*copy\.img .* check SOURCE and DEST, or pass --force/,
    );
    expect(sha256(n.source)).toBe(primaryNow);
    const back = await run(["sync", "--json", "--force", n.copy, n.source]);
    expect(back.code, back.stderr).toBe(EXIT.ok);
    expect(JSON.parse(back.stdout)).toMatchObject({ mode: "delta" });
    expect(readFileSync(n.source).equals(served)).toBe(true);
    // The direction restored: the primary's first sync is forced once, and ends the promotion.
    const restored = await run(["sync", "-q", "--keep-good", "reflink", "--force", n.source, n.copy]);
    expect(restored.code, restored.stderr).toBe(EXIT.ok);
    expect(state(n.copy).promotedAt).toBeUndefined();
    expect((await run(["sync", "-q", "--keep-good", "reflink", n.source, n.copy])).code).toBe(EXIT.ok);
  });

  it("promote of a complete copy keeps it as it is; of a copy with no good copy kept, refuses", async () => {
    const n = await firstNight("plain", testSeed("promote plain"));
    expect((await run(["promote", n.copy])).code).toBe(EXIT.ok);
    expect(readFileSync(n.copy).equals(n.night1)).toBe(true);
    expect((await run(["promote", n.copy])).stdout).toMatch(/was already promoted/);
    // Without --keep-good, a sync that did not finish leaves nothing to promote.
    const m = await firstNight("nothing-kept", testSeed("nothing kept"));
    writeMixedImage(m.source, SIZE, 5);
    await interruptedSync(m.source, m.copy, []);
    const refused = await run(["promote", m.copy]);
    expect(refused.code).toBe(EXIT.incomplete);
    expect(refused.stderr).toMatch(/no good copy was kept: there is no verified copy here to promote/);
  });

  it("--keep-good reflink is refused at start where the filesystem cannot clone, before anything is written", async () => {
    const dir = join("/dev/shm", `blockferry-noreflink-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const source = join(scratch.dir, "noreflink-src.img");
    writeMixedImage(source, 1 << 20, 3);
    const copy = join(dir, "copy.img");
    try {
      const r = await run(["sync", "--create", "--keep-good", "reflink", source, copy]);
      expect(r.code).toBe(EXIT.unsupported);
      expect(r.stderr).toMatch(/cannot clone files by reflink .*XFS or btrfs/);
      expect(existsSync(copy)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
