/**
 * Inside the guest: --keep-good lvm on an LV target (issue 18), the same
 * story for a thick and a thin standby (keep-thick, keep-thin): a diverged
 * standby is refused and kept until --force; a sync killed with SIGKILL
 * (both roles: the primary dying) leaves the good snapshot, byte-identical to
 * the last night, and status names it; promote merges it back; the old
 * primary is then refused; failback is a delta the other way; after every
 * verified sync no -blockferry-good LV is left.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { deviceNumber } from "../../../src/host/device-number.js";
import { volumeIdentity } from "../../../src/job/identity.js";
import { seededInts, testSeed } from "../../helpers/random.js";
import { expectSameBytes, type Lv, lvsOf, MiB, writeSeeded } from "./lvm.js";
import { listeningPort, type Result, type Scenario, type Started } from "./scenario.js";

export const EXIT = { ok: 0, busy: 5, network: 14, snapshot: 16, incomplete: 18, diverged: 21, promoted: 22 };

export interface Standby {
  s: Scenario;
  vg: string;
  /** The primary's LV and the standby LV. */
  data: string;
  standby: string;
  stateDir: string;
  /** Extra sync flags (a thick standby: --keep-good-size). */
  keepFlags: string[];
}

export const goodName = "standby-blockferry-good";

/** The standby of VG `vg`: LVs data and standby (made by the scenario), state files in a scratch folder. */
export function standbyIn(s: Scenario, vg: string, keepFlags: string[]): Standby {
  const stateDir = join(s.dir, "state");
  mkdirSync(stateDir, { recursive: true });
  return { s, vg, data: `/dev/${vg}/data`, standby: `/dev/${vg}/standby`, stateDir, keepFlags };
}

export function sync(t: Standby, extra: string[], from = t.data, to = t.standby): Result {
  return t.s.bf(["sync", "-q", "--state-dir", t.stateDir, ...extra, from, to]);
}

export function keep(t: Standby, extra: string[] = []): Result {
  return sync(t, ["--keep-good", "lvm", ...t.keepFlags, ...extra]);
}

export function status(t: Standby): { code: number | null; json: Record<string, unknown>; text: string } {
  const r = t.s.bf(["status", "--json", "--state-dir", t.stateDir, t.standby]);
  const text = t.s.bf(["status", "--state-dir", t.stateDir, t.standby]).stdout;
  return { code: r.code, json: JSON.parse(r.stdout), text };
}

export function stateOf(t: Standby): Record<string, unknown> {
  return JSON.parse(readFileSync(join(t.stateDir, `local_dev_${t.vg}_standby.state.json`), "utf8")).state;
}

/** The good snapshot as lvs shows it, or undefined. */
export function goodLv(t: Standby): Lv | undefined {
  return lvsOf(t.s, t.vg).find((lv) => lv.name === goodName || lv.name === `[${goodName}]`);
}

/** Its bytes: a thin snapshot is left inactive (lvm2 skips it at activation), so it is activated to be read. */
export function goodBytes(t: Standby): Buffer {
  const lv = goodLv(t);
  if (lv !== undefined && !lv.active) t.s.sh("lvchange", "-ay", "-K", `${t.vg}/${goodName}`);
  return readFileSync(`/dev/${t.vg}/${goodName}`);
}

/** Sectors written to the device behind `path` since boot (the kernel's count: field 7 of its stat). */
function sectorsWritten(path: string): number {
  const { major, minor } = deviceNumber(statSync(path).rdev);
  return Number(readFileSync(`/sys/dev/block/${major}:${minor}/stat`, "utf8").trim().split(/\s+/)[6]);
}

/**
 * A reader of the bytes written to `path` since now. lvm2 without udev (the
 * guest) removes and re-creates /dev/VG/LV while it snapshots that LV, so a
 * read that finds no node gives the last count rather than failing the test.
 */
export function bytesWrittenSince(path: string): () => number {
  const before = sectorsWritten(path);
  let last = 0;
  return () => {
    try {
      last = (sectorsWritten(path) - before) * 512;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    return last;
  };
}

/**
 * A sync (slowed down) killed with SIGKILL once it has written `mib` MiB to
 * the standby, as the kernel counts them, and before it is verified: both
 * roles die at once, as with a primary that loses power. (The target writes
 * in batches of megabytes, so on 16 MiB the kill may land after the last one.)
 */
export async function killedSync(t: Standby, bytes: number): Promise<void> {
  const written = bytesWrittenSince(t.standby);
  const child = t.s.bfStart([
    ...["sync", "--state-dir", t.stateDir, "--bwlimit", "2M", "--keep-good", "lvm", ...t.keepFlags],
    ...[t.data, t.standby],
  ]);
  await killOnceWritten(t, child, written, bytes);
  expect(stateOf(t).complete).toBe(false);
}

/** SIGKILL to `child` once `written()` (bytes written to the standby) reaches `bytes`. */
async function killOnceWritten(t: Standby, child: Started, written: () => number, bytes: number): Promise<void> {
  for (let i = 0; i < 2400 && written() < bytes && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill("SIGKILL");
  const r = await child.output();
  t.s.log(`killed after ${written()} bytes written to ${t.standby} (asked: ${bytes})`);
  expect(r.signal, `it ended before writing ${bytes} bytes: ${r.stderr}`).toBe("SIGKILL");
  expect(written()).toBeGreaterThanOrEqual(bytes);
}

/** A kill point: a seeded number of bytes written, 256 KiB to 2 MiB (the first batches of a 16 MiB night). */
function killPoint(pick: (below: number) => number): number {
  return (1 + pick(8)) * 256 * 1024;
}

/** No -blockferry-good LV, and the standby is a plain LV (not merging, not an origin). */
export function expectNoGood(t: Standby): void {
  expect(goodLv(t)).toBeUndefined();
  const standby = lvsOf(t.s, t.vg).find((lv) => lv.name === "standby");
  expect(standby?.attr[0]).toMatch(/^[-V]$/);
}

/** The scenarios, on the standby `t` (its first night not yet synced). */
export function standbyScenarios(t: Standby): void {
  const seed = testSeed(`keep-good ${t.vg}`);
  const pick = seededInts(seed);
  const { s } = t;
  let night1: Buffer;

  it("the first sync keeps nothing: no good copy to keep yet, none left after", () => {
    writeSeeded(s, t.data, 0, 16 * MiB, seed);
    night1 = readFileSync(t.data);
    const r = keep(t);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expectSameBytes(s, t.standby, t.data);
    expectNoGood(t);
  });

  it("refuses a standby written since its last sync (exit 21), leaves it as it was; --force overwrites it", () => {
    writeSeeded(s, t.standby, 3 * MiB, MiB, seed + 7); // the standby took over and wrote
    const held = readFileSync(t.standby);
    for (const extra of [[], ["--dry-run"]]) {
      const r = keep(t, extra);
      expect(r.code, r.stderr).toBe(EXIT.diverged);
      expect(r.stderr).toMatch(/was written since its last sync .* sync the other way .* or pass --force/);
      expect(readFileSync(t.standby).equals(held)).toBe(true);
      expectNoGood(t);
    }
    const forced = keep(t, ["--force"]);
    expect(forced.code, forced.stderr).toBe(EXIT.ok);
    expectSameBytes(s, t.standby, t.data);
    expect(readFileSync(t.standby).equals(night1)).toBe(true);
    expectNoGood(t);
  });

  it("a sync killed mid-way leaves the good snapshot, byte-identical to the last night; status names it; the next killed sync keeps it", async () => {
    writeSeeded(s, t.data, 0, 16 * MiB, seed + 1); // every block changes
    await killedSync(t, killPoint(pick)); // generation 2: the forced sync above
    expect(goodLv(t)).toMatchObject({ origin: "standby", tags: ["blockferry-good"] });
    expect(goodLv(t)?.attr[1]).toBe("r"); // read-only
    expect(goodBytes(t).equals(night1)).toBe(true);
    expect(readFileSync(t.standby).equals(night1)).toBe(false); // written, not verified
    const st = status(t);
    expect(st.code).toBe(EXIT.ok); // a usable standby exists: the kept copy
    expect(st.json).toMatchObject({
      complete: false,
      good: { method: "lvm", generation: 2, where: `${t.vg}/${goodName}` },
    });
    expect(st.text).toMatch(
      /kept good copy: generation 2.*lvm at \S+standby-blockferry-good.*`blockferry promote` makes it the volume/,
    );
    // Another night, killed too: the kept copy stays the last verified one, never the half-written one.
    writeSeeded(s, t.data, 0, 16 * MiB, seed + 4);
    await killedSync(t, killPoint(pick));
    expect(goodBytes(t).equals(night1)).toBe(true);
  });

  it("promote merges the good snapshot back: the standby holds the last night byte for byte; the old primary is refused", async () => {
    const holder = s.start("sh", ["-c", `exec sleep 600 < ${t.standby}`]); // held open, as by a mount
    await new Promise((r) => setTimeout(r, 500));
    const open = s.bf(["promote", "--state-dir", t.stateDir, t.standby]);
    expect(open.code, open.stderr).toBe(EXIT.busy);
    expect(open.stderr).toMatch(/is open \(mounted, or held by a process\)/);
    expect(goodBytes(t).equals(night1)).toBe(true);
    expect(status(t).json).toMatchObject({ complete: false, good: { method: "lvm" } });
    holder.kill("SIGKILL");
    await holder.output();
    const p = s.bf(["promote", "--state-dir", t.stateDir, t.standby]);
    expect(p.code, p.stderr).toBe(EXIT.ok);
    expect(p.stdout).toMatch(/is promoted: it holds generation 2.*restored from the kept good copy/);
    expect(readFileSync(t.standby).equals(night1)).toBe(true);
    expectNoGood(t);
    expect(
      lvsOf(s, t.vg)
        .find((lv) => lv.name === "standby")
        ?.attr.slice(0, 2),
    ).toMatch(/^[-V]w$/);
    expect(status(t).json).toMatchObject({ complete: true, promotedAt: expect.any(String) });
    // Recorded as the volume the merge left (a thin merge reactivates it), so the record stays trusted.
    const size = Number(s.sh("blockdev", "--getsize64", t.standby).trim());
    expect(stateOf(t).targetId).toBe(await volumeIdentity(t.standby, size));
    const late = keep(t);
    expect(late.code, late.stderr).toBe(EXIT.promoted);
    expect(readFileSync(t.standby).equals(night1)).toBe(true);
  });

  it("fails back: the standby's new data goes to the primary by delta; then the direction is restored", () => {
    writeSeeded(s, t.standby, 9 * MiB, MiB, seed + 2); // it serves: new data lands on it
    const served = readFileSync(t.standby);
    const back = s.bf(["sync", "--json", "--force", "--state-dir", t.stateDir, t.standby, t.data]);
    expect(back.code, back.stderr).toBe(EXIT.ok);
    expect(JSON.parse(back.stdout)).toMatchObject({ mode: "delta" });
    expect(readFileSync(t.data).equals(served)).toBe(true);
    const restored = keep(t, ["--force"]);
    expect(restored.code, restored.stderr).toBe(EXIT.ok);
    expect(stateOf(t).promotedAt).toBeUndefined();
    writeSeeded(s, t.data, 0, MiB, seed + 3);
    const nightly = keep(t);
    expect(nightly.code, nightly.stderr).toBe(EXIT.ok);
    expectSameBytes(s, t.standby, t.data);
    expectNoGood(t);
  });

  it("the receiver alone killed mid-night: the good snapshot is the last verified night; the next night completes", async () => {
    const secret = join(t.stateDir, "secret");
    writeFileSync(secret, "a shared secret of the scenario\n", { mode: 0o600 });
    const over = ["--insecure-plaintext", "--secret-file", secret];
    const receive = async (keepFlags: string[]) => {
      const child = s.bfStart([
        ...["receive", "--listen", "127.0.0.1:0", ...over, "--state-dir", t.stateDir],
        ...["--target", `standby=${t.standby}`, "--keep-good", "standby=lvm", ...keepFlags],
      ]);
      return { child, url: `tcp://127.0.0.1:${await listeningPort(child)}/standby` };
    };
    const keepFlags = t.keepFlags.length === 0 ? [] : ["--keep-good-size", `standby=${t.keepFlags[1]}`];
    const pushTo = (url: string) => s.bfStart(["sync", "-q", "--bwlimit", "2M", ...over, t.data, url]);
    // A verified night through a receiver, then one whose receiver dies.
    const first = await receive(keepFlags);
    const night = await pushTo(first.url).output();
    expect(night.code, night.stderr).toBe(EXIT.ok);
    expect((await first.child.output()).code).toBe(EXIT.ok);
    const verified = readFileSync(t.standby);
    writeSeeded(s, t.data, 0, 16 * MiB, seed + 5);
    const dying = await receive(keepFlags);
    const source = pushTo(dying.url);
    await killOnceWritten(t, dying.child, bytesWrittenSince(t.standby), killPoint(pick));
    const lost = await source.output();
    expect(lost.code, lost.stderr).toBe(EXIT.network);
    expect(goodBytes(t).equals(verified)).toBe(true);
    expect(status(t)).toMatchObject({ code: EXIT.ok, json: { complete: false, good: { method: "lvm" } } });
    const again = await receive(keepFlags);
    const next = await pushTo(again.url).output();
    expect(next.code, next.stderr).toBe(EXIT.ok);
    await again.child.output();
    expectSameBytes(s, t.standby, t.data);
    expectNoGood(t);
    // The local syncs keep their own record of the standby, which the receiver's syncs moved on.
    expect(keep(t, ["--force"]).code).toBe(EXIT.ok);
  });
}
