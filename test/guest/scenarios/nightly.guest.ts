/**
 * The nightly job on real LVM: `blockferry run JOB-FILE` with hooks around
 * the snapshot, a configuration directory (--with-dir), a receiver (`serve`
 * on loopback, writing another LV over mutual TLS), then `status` on the
 * receiving side. Run twice: a first copy, then a delta after changes.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import {
  expectNoSnapshot,
  expectSameBytes,
  lvNames,
  MiB,
  makeLv,
  makeVg,
  snapshotRecorder,
  writeSeeded,
} from "../lib/lvm.js";
import { listeningPort, type Started, scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const VG = "nightly";
const seed = testSeed("nightly");
const origin = `/dev/${VG}/data`;
const standby = `/dev/${VG}/standby`;
const keys = join(s.dir, "keys");
const stateDir = join(s.dir, "state");
const secondary = join(s.dir, "secondary");
const confSource = join(s.dir, "etc-app");
const confDest = join(secondary, "etc-app");
const preLog = join(s.dir, "pre-hook");
let server: Started;
let port: number;

beforeAll(async () => {
  makeVg(s, VG);
  makeLv(s, VG, "data", 16);
  makeLv(s, VG, "standby", 16);
  writeSeeded(s, origin, 0, 16 * MiB, seed);
  mkdirSync(join(confSource, "hosts"), { recursive: true });
  writeFileSync(join(confSource, "config.pl"), "$Conf{XferMethod} = 'rsync';\n");
  chownSync(join(confSource, "config.pl"), 1234, 5678);
  chmodSync(join(confSource, "config.pl"), 0o640);
  writeFileSync(join(confSource, "hosts", "web1.pl"), "1;\n");
  symlinkSync("config.pl", join(confSource, "current.pl"));
  mkdirSync(secondary);
  // One key for both ends, as on a host that is both; the receiver lets it write "standby".
  const keygen = s.bf(["keygen", "--key-dir", keys]);
  expect(keygen.code, keygen.stderr).toBe(0);
  const fingerprint = keygen.stdout.trim();
  server = s.bfStart([
    ...["serve", "--listen", "127.0.0.1:0", "--key-dir", keys, "--allow", `${fingerprint}=standby`],
    ...["--target", `standby=${standby}`, "--allow-dir", `standby=${secondary}`, "--state-dir", stateDir],
  ]);
  port = await listeningPort(server);
});

afterAll(async () => {
  server.kill("SIGTERM");
  await server.output();
});

function jobFile(postSnapshot: string): string {
  const path = join(s.dir, "nightly.toml");
  const toml = [
    "[job.app]",
    `source = "${origin}"`,
    `destination = "tcp://127.0.0.1:${port}/standby"`,
    `key-dir = "${keys}"`,
    "trust-new-host = true",
    'snapshot = "lvm"',
    'snapshot-size = "8M"',
    `pre-snapshot = "lvs --noheadings -o lv_name ${VG} | tr -d ' ' | tr '\\\\n' ' ' > ${preLog}"`,
    `post-snapshot = ${JSON.stringify(postSnapshot)}`,
    `with-dir = ["${confSource}:${confDest}"]`,
    "verify = true",
  ];
  writeFileSync(path, `${toml.join("\n")}\n`);
  return path;
}

function runJob(entries: number): { mode: string } {
  const recorder = snapshotRecorder(s, VG, "data");
  const r = s.bf(["run", "--json", jobFile(recorder.command)]);
  expect(r.code, r.stderr).toBe(0);
  // The pre hook ran before the snapshot existed; the post hook saw it, read-only, 8 MiB.
  expect(readFileSync(preLog, "utf8").trim().split(" ").sort()).toEqual(["data", "standby"]);
  expect(recorder.seen()).toMatchObject({ origin: "data", size: 8 * MiB, tags: ["blockferry"] });
  expect(recorder.seen().attr.slice(0, 2)).toBe("sr");
  expectNoSnapshot(s, VG);
  expectSameBytes(s, standby, origin);
  const job = JSON.parse(r.stdout).jobs[0];
  expect(job).toMatchObject({ ok: true, snapshot: `${VG}/data-blockferry-snap`, dirs: [{ dest: confDest, entries }] });
  return job;
}

function status(): Record<string, unknown> {
  const r = s.bf(["status", "--json", "--state-dir", stateDir, standby]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

it("runs the job: hooks, snapshot, copy to a receiver's LV, directory, snapshot removed; status says complete", () => {
  runJob(4);
  const placed = lstatSync(join(confDest, "config.pl"));
  expect([placed.uid, placed.gid, placed.mode & 0o7777]).toEqual([1234, 5678, 0o640]);
  expect(readFileSync(join(confDest, "hosts", "web1.pl"), "utf8")).toBe("1;\n");
  expect(lstatSync(join(confDest, "current.pl")).isSymbolicLink()).toBe(true);
  expect(status()).toMatchObject({ complete: true, generation: 1 });
});

it("runs it again after changes: a delta, and status moves on a generation", () => {
  writeSeeded(s, origin, 5 * MiB, 512 * 1024, seed + 1);
  writeFileSync(join(confSource, "hosts", "web2.pl"), "2;\n");
  const job = runJob(5);
  expect(job.mode).toBe("delta");
  expect(readFileSync(join(confDest, "hosts", "web2.pl"), "utf8")).toBe("2;\n");
  expect(status()).toMatchObject({ complete: true, generation: 2 });
  expect(lvNames(s, VG)).toEqual(["data", "standby"]);
});
