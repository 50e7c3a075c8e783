/**
 * The whole nightly job through `blockferry run`, with LVM played by the
 * stand-in on PATH (test/fixtures/lvm: this kernel has no device-mapper), real
 * hooks, a real receiver over TLS and a real configuration directory. Every
 * path must leave no snapshot behind, and a target not verified marked
 * incomplete.
 */
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run, start, startServer } from "../helpers/cli.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { type LvmStandIn, lvmStandIn } from "../helpers/lvm.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
const servers: Array<{ child: ChildProcess }> = [];
let lvm: LvmStandIn;
let n = 0;
afterAll(() => scratch.remove());
afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill("SIGKILL");
  lvm.cleanup();
});

const seed = testSeed("nightly");
const SIZE = 8 << 20;
const SNAP = "pool-blockferry-snap";

interface Setup {
  dir: string;
  target: string;
  confSource: string;
  confDest: string;
  hookLog: string;
  env: Record<string, string>;
  jobFile: (extra?: string) => string;
  serverLog: () => string;
}

beforeEach(() => {
  lvm = lvmStandIn({ bytes: seededBytes(SIZE, seed) });
});

/** A receiver with one target and one allowed directory, and a job file for it. */
async function setup(serveArgs: string[] = []): Promise<Setup> {
  const dir = join(scratch.dir, `case${++n}`);
  mkdirSync(join(dir, "secondary"), { recursive: true });
  const target = join(dir, "secondary", "pool.img");
  writeFileSync(target, "");
  const confSource = join(dir, "etc-backuppc");
  mkdirSync(join(confSource, "pc"), { recursive: true });
  writeFileSync(join(confSource, "config.pl"), "$Conf{XferMethod} = 'rsync';\n");
  chownSync(join(confSource, "config.pl"), 1234, 5678);
  chmodSync(join(confSource, "config.pl"), 0o640);
  writeFileSync(join(confSource, "pc", "host1.pl"), "1;\n");
  chmodSync(join(confSource, "pc", "host1.pl"), 0o600);
  symlinkSync("config.pl", join(confSource, "current.pl"));
  const confDest = join(dir, "secondary", "backuppc");
  const server = await startServer([
    "--target",
    `pool=${target}`,
    "--allow-dir",
    `pool=${join(dir, "secondary")}`,
    ...serveArgs,
  ]);
  servers.push(server);
  const hookLog = join(dir, "hooks.log");
  const lockDir = join(dir, "locks");
  const env = { ...lvm.env, BLOCKFERRY_LOCK_DIR: lockDir };
  // The post hook records which snapshot LVs exist as it runs: the snapshot, if it was taken.
  const hook = (name: string) => `echo ${name} $(ls ${join(lvm.dir, "dev", "vg0")} | tr '\\n' ' ') >> ${hookLog}`;
  const jobFile = (extra = "") => {
    const path = join(dir, "nightly.toml");
    writeFileSync(
      path,
      `[job.backuppc]\nsource = "/dev/vg0/pool"\ndestination = "tcp://127.0.0.1:${server.port}/pool"\n` +
        `snapshot = "lvm"\nblock-size = "16K"\npre-snapshot = "${hook("pre")}"\npost-snapshot = "${hook("post")}"\n` +
        `with-dir = ["${confSource}:${confDest}"]\nverify = true\n${extra}`,
    );
    return path;
  };
  return { dir, target, confSource, confDest, hookLog, env, jobFile, serverLog: server.log };
}

const tools = () => lvm.commands().map((c) => `${c[0]} ${c.slice(1).join(" ")}`);

async function status(target: string): Promise<{ code: number | null; json: Record<string, unknown> }> {
  const r = await run(["status", "--json", target]);
  return { code: r.code, json: JSON.parse(r.stdout) };
}

describe("blockferry run: the nightly job", () => {
  it("snapshot, copy then delta, verification, configuration directory, snapshot removal, status", async () => {
    const s = await setup();
    const first = await run(["run", "--json", s.jobFile()], s.env);
    expect(first.code, first.stderr).toBe(EXIT.ok);
    expect(readFileSync(s.target).equals(readFileSync(lvm.originFile))).toBe(true);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(tools()).toEqual([
      "lvs --noheadings --nosuffix --units b --separator | -o vg_name,lv_name,lv_path,lv_attr,origin,lv_size,segtype,pool_lv,vg_free -- /dev/vg0/pool",
      "lvs --noheadings --nosuffix --units b --separator | -o lv_name,origin,lv_tags -- vg0",
      `lvcreate --snapshot --permission r --name ${SNAP} --addtag blockferry -l 100%FREE vg0/pool`,
      `lvs --noheadings --nosuffix --units b --separator | -o lv_path,lv_attr,data_percent,lv_size -- vg0/${SNAP}`,
      // usage read once every block is read, before the copy is confirmed
      `lvs --noheadings --nosuffix --units b --separator | -o lv_path,lv_attr,data_percent,lv_size -- vg0/${SNAP}`,
      `lvremove -f vg0/${SNAP}`,
    ]);
    // The pre hook ran before the snapshot existed, the post hook once it did.
    expect(readFileSync(s.hookLog, "utf8")).toBe(`pre pool\npost pool ${SNAP}\n`);
    const summary = JSON.parse(first.stdout);
    expect(summary.jobs[0]).toMatchObject({
      ok: true,
      snapshot: `vg0/${SNAP}`,
      mode: "copy",
      dirs: [{ dest: s.confDest, entries: 4 }],
    });
    // The directory arrived whole, with owners, modes and the symlink.
    const placed = lstatSync(join(s.confDest, "config.pl"));
    expect([placed.uid, placed.gid, placed.mode & 0o7777]).toEqual([1234, 5678, 0o640]);
    expect(lstatSync(join(s.confDest, "pc", "host1.pl")).mode & 0o7777).toBe(0o600);
    expect(readlinkSync(join(s.confDest, "current.pl"))).toBe("config.pl");
    expect(readFileSync(join(s.confDest, "config.pl"), "utf8")).toBe("$Conf{XferMethod} = 'rsync';\n");

    // The next night: a few blocks and the configuration changed.
    const origin = readFileSync(lvm.originFile);
    for (const at of [0, 3 << 20, SIZE - 4096]) origin.fill(0x5a, at, at + 4096);
    writeFileSync(lvm.originFile, origin);
    writeFileSync(join(s.confSource, "config.pl"), "$Conf{XferMethod} = 'tar';\n");
    lvm.clearCommands();
    const second = await run(["run", "--json", s.jobFile()], s.env);
    expect(second.code, second.stderr).toBe(EXIT.ok);
    expect(JSON.parse(second.stdout).jobs[0]).toMatchObject({ ok: true, mode: "delta", blocks: { changed: 3 } });
    expect(sha256(s.target)).toBe(sha256(lvm.originFile));
    expect(readFileSync(join(s.confDest, "config.pl"), "utf8")).toBe("$Conf{XferMethod} = 'tar';\n");
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(tools().at(-1)).toBe(`lvremove -f vg0/${SNAP}`);

    const st = await status(s.target);
    expect(st.code).toBe(EXIT.ok);
    expect(st.json).toMatchObject({ complete: true, generation: 2, lastSync: { mode: "cached", reread: true } });
    expect((st.json.lastSync as { sourceId: string }).sourceId).toMatch(/:.*\/dev\/vg0\/pool$/);
    expect(st.json.dirs).toMatchObject([{ path: s.confDest, entries: 4 }]);
  });

  it("a snapshot that filled up fails the sync: removed, and the target stays incomplete", async () => {
    const s = await setup();
    expect((await run(["run", "-q", s.jobFile()], s.env)).code).toBe(EXIT.ok);
    lvm.update((state) => {
      state.simulate.fillUp = true;
    });
    const origin = readFileSync(lvm.originFile);
    origin.fill(1, 0, 65536);
    writeFileSync(lvm.originFile, origin);
    const r = await run(["run", s.jobFile()], s.env);
    expect(r.code).toBe(EXIT.snapshot);
    expect(r.stderr).toMatch(/filled up/);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(tools().at(-1)).toBe(`lvremove -f vg0/${SNAP}`);
    const st = await status(s.target);
    expect(st.code).toBe(EXIT.incomplete);
    expect(st.json).toMatchObject({ complete: false, interrupted: true });
    // The receiver's log says why, not just that the connection broke.
    const said = /refused or failed: E_SNAPSHOT: source: .*filled up/;
    for (let i = 0; i < 100 && !said.test(s.serverLog()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.serverLog()).toMatch(said);
  });

  it("a full volume group: no snapshot, the post hook still runs, the target is not touched", async () => {
    const s = await setup();
    expect((await run(["run", "-q", s.jobFile()], s.env)).code).toBe(EXIT.ok);
    const before = sha256(s.target);
    lvm.update((state) => {
      for (const vg of Object.values(state.vgs)) vg.freeExtents = 0;
    });
    writeFileSync(s.hookLog, "");
    const r = await run(["run", s.jobFile()], s.env);
    expect(r.code).toBe(EXIT.snapshot);
    expect(r.stderr).toMatch(/the volume group vg0 has no free space/);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(readFileSync(s.hookLog, "utf8")).toBe("pre pool\npost pool\n");
    expect(sha256(s.target)).toBe(before);
    expect((await status(s.target)).code).toBe(EXIT.ok); // last night's copy is still whole
  });

  it("a failing pre hook aborts before the snapshot; the post hook still runs", async () => {
    const s = await setup();
    const file = s.jobFile();
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(/pre-snapshot = ".*"/, 'pre-snapshot = "echo stopping; exit 3"'),
    );
    const r = await run(["run", join(s.dir, "nightly.toml")], s.env);
    expect(r.code).toBe(EXIT.hook);
    expect(r.stderr).toMatch(/pre-snapshot: stopping/);
    expect(r.stderr).toMatch(/--pre-snapshot command failed with exit code 3/);
    expect(readFileSync(s.hookLog, "utf8")).toBe("post pool\n");
    expect(tools().some((c) => c.startsWith("lvcreate"))).toBe(false);
    expect(readFileSync(s.target).length).toBe(0);
  });

  it("a run killed between snapshot and removal: the next run removes the stale snapshot and syncs", async () => {
    const s = await setup();
    const crashed = await run(["run", s.jobFile()], { ...s.env, LVM_STANDIN_CRASH: "after-create" });
    expect(crashed.signal).toBe("SIGKILL");
    expect(lvm.lvs()).toEqual(["pool", SNAP]); // left behind, as by a power cut
    lvm.clearCommands();
    const next = await run(["run", s.jobFile()], s.env);
    expect(next.code, next.stderr).toBe(EXIT.ok);
    expect(next.stderr).toMatch(
      /removing the snapshot vg0\/pool-blockferry-snap, left behind by a run that did not finish/,
    );
    expect(tools().slice(1, 4)).toEqual([
      "lvs --noheadings --nosuffix --units b --separator | -o lv_name,origin,lv_tags -- vg0",
      `lvremove -f vg0/${SNAP}`,
      `lvcreate --snapshot --permission r --name ${SNAP} --addtag blockferry -l 100%FREE vg0/pool`,
    ]);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(sha256(s.target)).toBe(sha256(lvm.originFile));
  });

  it("SIGTERM during the copy: stops, runs the post hook, removes the snapshot, target incomplete", async () => {
    const s = await setup();
    // Slow enough (1 MiB/s for 8 MiB) to be caught midway.
    const child = start(["run", s.jobFile('bwlimit = "1M"\n')], s.env);
    const state = `${s.target}.blockferry-state.json`;
    for (let i = 0; i < 400 && !existsSync(state); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(state)).toBe(true);
    child.kill("SIGTERM");
    const r = await child.output();
    expect(r.code, r.stderr).toBe(EXIT.interrupted);
    expect(r.stderr).toMatch(/SIGTERM: stopping and cleaning up/);
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(tools().at(-1)).toBe(`lvremove -f vg0/${SNAP}`);
    expect(readFileSync(s.hookLog, "utf8")).toBe(`pre pool\npost pool ${SNAP}\n`);
    const st = await status(s.target);
    expect(st.code).toBe(EXIT.incomplete);
    // The receiver still runs, but no longer writes this copy: interrupted, not running.
    expect(st.json).toMatchObject({ complete: false, interrupted: true });
    expect(st.json.runningPid).toBeUndefined();
  });

  it("SIGTERM while the post hook runs: the hook finishes (it restarts the service), no copy starts, snapshot removed", async () => {
    const s = await setup();
    const file = s.jobFile();
    const slowPost = `post-snapshot = "sleep 1; echo post-done >> ${s.hookLog}"`;
    writeFileSync(file, readFileSync(file, "utf8").replace(/post-snapshot = ".*"/, slowPost));
    const child = start(["run", file], s.env);
    const created = () => tools().some((c) => c.startsWith("lvcreate"));
    for (let i = 0; i < 400 && !created(); i++) await new Promise((r) => setTimeout(r, 25));
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200)); // two at once would be delivered as one
    child.kill("SIGINT"); // a second signal is only reported
    const r = await child.output();
    expect(r.code, r.stderr).toBe(EXIT.interrupted);
    expect(r.stderr).toMatch(/still cleaning up/);
    expect(readFileSync(s.hookLog, "utf8")).toBe("pre pool\npost-done\n");
    expect(lvm.lvs()).toEqual(["pool"]);
    expect(tools().at(-1)).toBe(`lvremove -f vg0/${SNAP}`);
    expect(readFileSync(s.target).length).toBe(0);
  });

  it("a receiver that does not allow the directory refuses before anything is written", async () => {
    const s = await setup();
    const file = readFileSync(s.jobFile(), "utf8").replace(s.confDest, join(scratch.dir, "elsewhere"));
    writeFileSync(join(s.dir, "nightly.toml"), file);
    const r = await run(["run", join(s.dir, "nightly.toml")], s.env);
    expect(r.code).toBe(EXIT.access);
    expect(r.stderr).toMatch(/this receiver does not place directories at .*elsewhere"; it allows .*secondary/);
    expect(readFileSync(s.target).length).toBe(0);
    expect(existsSync(`${s.target}.blockferry-state.json`)).toBe(false);
    expect(lvm.lvs()).toEqual(["pool"]);
  });
});
