/**
 * Monitoring (issue 21): JSON reports that say when, where, which version and
 * with what exit code; Prometheus textfiles checked by promtool; the Nagios
 * plugin mode of status; the history of syncs on both sides.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { version as VERSION } from "../../src/build-info.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { promtoolCheck, sampleValue } from "../helpers/prometheus.js";
import { testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
const SIZE = 8 << 20;

function image(name: string, seed: number): string {
  const path = join(scratch.dir, name);
  writeMixedImage(path, SIZE, seed);
  return path;
}

describe("JSON reports", () => {
  it("sync, run and status --json carry timestamp, host, version and exit code, on success and on failure", async () => {
    const source = image("json-src.img", testSeed("json"));
    const copy = join(scratch.dir, "json-copy.img");
    const before = Date.now();
    const ok = await run(["sync", "-q", "--json", "--create", source, copy]);
    expect(ok.code, ok.stderr).toBe(EXIT.ok);
    const report = JSON.parse(ok.stdout);
    expect(report).toMatchObject({ host: hostname(), version: VERSION, exitCode: 0, ok: true });
    expect(Date.parse(report.timestamp)).toBeGreaterThanOrEqual(before - 1000);
    const missing = await run(["sync", "-q", "--json", source, join(scratch.dir, "absent", "x.img")]);
    expect(missing.code).not.toBe(EXIT.ok);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, exitCode: missing.code, host: hostname() });
    const stale = await run(["status", "--json", "--max-age", "1s", copy], {});
    await new Promise((r) => setTimeout(r, 1100));
    const older = await run(["status", "--json", "--max-age", "1s", copy]);
    expect(older.code).toBe(EXIT.stale);
    expect(JSON.parse(older.stdout)).toMatchObject({ exitCode: EXIT.stale, version: VERSION, ok: false });
    expect(JSON.parse(stale.stdout).host).toBe(hostname());
    const job = join(scratch.dir, "json.toml");
    writeFileSync(job, `[job.a]\nsource = "${source}"\ndestination = "${copy}"\n`);
    const runReport = await run(["run", "-q", "--json", job]);
    expect(runReport.code, runReport.stderr).toBe(EXIT.ok);
    expect(JSON.parse(runReport.stdout)).toMatchObject({ exitCode: 0, version: VERSION, jobs: [{ exitCode: 0 }] });
  });
});

describe("Prometheus textfiles", () => {
  it("promtool rejects a bad exposition (the check can fail)", () => {
    expect(promtoolCheck('x{a="b"c"} 1\n').status).not.toBe(0);
  });

  it("sync --metrics-file: valid text format, escaped labels, renamed into place, last success kept through a failure", async () => {
    const source = image("prom-src.img", testSeed("prom"));
    const copy = join(scratch.dir, 'we"ird\\name.img');
    const dir = join(scratch.dir, "textfiles");
    const file = join(dir, "sync.prom");
    await run(["sync", "-q", "--create", "--metrics-file", join(dir, "x.prom"), source, copy]).then((r) =>
      // no such directory: the sync itself succeeded, the metrics file could not be written
      expect(r.code).toBe(EXIT.notFound),
    );
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dir);
    const ok = await run(["sync", "-q", "--metrics-file", file, source, copy]);
    expect(ok.code, ok.stderr).toBe(EXIT.ok);
    const text = readFileSync(file, "utf8");
    expect(promtoolCheck(text)).toMatchObject({ status: 0 });
    const labels = { destination: copy };
    expect(sampleValue(text, "blockferry_sync_exit_code", labels)).toBe(0);
    expect(sampleValue(text, "blockferry_sync_read_bytes", labels)).toBeGreaterThan(0);
    const success = sampleValue(text, "blockferry_sync_last_success_timestamp_seconds", labels) as number;
    expect(Math.abs(success - Date.now() / 1000)).toBeLessThan(120);
    expect(readdirSync(dir)).toEqual(["sync.prom"]); // no temporary file left
    // A failure: the diverged copy is refused (exit 21); the last success stays that of the sync above.
    writeFileSync(copy, Buffer.alloc(4096, 7), { flag: "r+" });
    const failed = await run(["sync", "-q", "--metrics-file", file, source, copy]);
    expect(failed.code).toBe(EXIT.diverged);
    const after = readFileSync(file, "utf8");
    expect(promtoolCheck(after)).toMatchObject({ status: 0 });
    expect(sampleValue(after, "blockferry_sync_exit_code", labels)).toBe(EXIT.diverged);
    expect(sampleValue(after, "blockferry_sync_ok", labels)).toBe(0);
    expect(sampleValue(after, "blockferry_sync_last_success_timestamp_seconds", labels)).toBe(success);
  });

  it("run --metrics-file holds every job; a job's metrics-file key gets that job's", async () => {
    const a = image("run-a.img", testSeed("run a"));
    const b = image("run-b.img", testSeed("run b"));
    const own = join(scratch.dir, "b-only.prom");
    const job = join(scratch.dir, "metrics.toml");
    writeFileSync(
      job,
      `[defaults]\ncreate = true\n[job.a]\nsource = "${a}"\ndestination = "${a}.copy"\n` +
        `[job.b]\nsource = "${b}"\ndestination = "${b}.copy"\nmetrics-file = "${own}"\n`,
    );
    const all = join(scratch.dir, "all.prom");
    const r = await run(["run", "-q", "--metrics-file", all, job]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const text = readFileSync(all, "utf8");
    expect(promtoolCheck(text)).toMatchObject({ status: 0 });
    for (const name of ["a", "b"]) expect(sampleValue(text, "blockferry_sync_ok", { job: name })).toBe(1);
    const mine = readFileSync(own, "utf8");
    expect(sampleValue(mine, "blockferry_sync_ok", { job: "b" })).toBe(1);
    expect(sampleValue(mine, "blockferry_sync_ok", { job: "a" })).toBeUndefined();
  });

  it("status --prometheus: per target, a missing one with its status code", async () => {
    const source = image("st-src.img", testSeed("status prom"));
    const copy = join(scratch.dir, "st-copy.img");
    expect((await run(["sync", "-q", "--create", source, copy])).code).toBe(EXIT.ok);
    const gone = join(scratch.dir, "gone.img");
    const r = await run(["status", "--prometheus", copy, gone]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(promtoolCheck(r.stdout)).toMatchObject({ status: 0 });
    expect(sampleValue(r.stdout, "blockferry_target_complete", { target: copy })).toBe(1);
    expect(sampleValue(r.stdout, "blockferry_target_status_code", { target: copy })).toBe(0);
    expect(sampleValue(r.stdout, "blockferry_target_status_code", { target: gone })).toBe(EXIT.notFound);
    const file = join(scratch.dir, "status.prom");
    const w = await run(["status", "--prometheus", "--metrics-file", file, "--max-age", "1s", copy]);
    expect(w.code, w.stderr).toBe(EXIT.ok);
    await new Promise((r) => setTimeout(r, 1100));
    await run(["status", "--prometheus", "--metrics-file", file, "--max-age", "1s", copy]);
    expect(sampleValue(readFileSync(file, "utf8"), "blockferry_target_status_code", { target: copy })).toBe(EXIT.stale);
  });
});

describe("status --nagios", () => {
  it("exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN with one line and perfdata", async () => {
    const source = image("ng-src.img", testSeed("nagios"));
    const copy = join(scratch.dir, "ng-copy.img");
    expect((await run(["sync", "-q", "--create", source, copy])).code).toBe(EXIT.ok);
    const ok = await run(["status", "--nagios", "--warn-age", "1h", "--max-age", "2h", copy]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^BLOCKFERRY OK - .*complete and verified.* \| age=\d+s;3600;7200;0 bytes=\d+B;;;0/);
    expect(ok.stdout.trim().split("\n")).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    const warn = await run(["status", "--nagios", "--warn-age", "1s", "--max-age", "2h", copy]);
    expect(warn.code).toBe(1);
    expect(warn.stdout).toMatch(/^BLOCKFERRY WARNING - .*more than --warn-age 1 s/);
    const crit = await run(["status", "--nagios", "--max-age", "1s", copy]);
    expect(crit.code).toBe(2);
    expect(crit.stdout).toMatch(/^BLOCKFERRY CRITICAL - .*more than --max-age 1 s/);
    writeFileSync(copy, Buffer.alloc(4096, 7), { flag: "r+" }); // written since its last sync
    const written = await run(["status", "--nagios", copy]);
    expect(written.code).toBe(2);
    expect(written.stdout).toMatch(/^BLOCKFERRY CRITICAL - .*written since the last sync/);
    const unknown = await run(["status", "--nagios", join(scratch.dir, "nothing.img")]);
    expect(unknown.code).toBe(3);
    expect(unknown.stdout).toMatch(/^BLOCKFERRY UNKNOWN - status not taken: .*no volume/);
  });
});

describe("history", () => {
  it("the source and the receiver each record their syncs; status --history shows them", async () => {
    const source = image("hist-src.img", testSeed("history"));
    const target = join(scratch.dir, "hist-target.img");
    const server = await startServer(["--target", `t=${target}`, "--create"]);
    try {
      const dest = `tcp://127.0.0.1:${server.port}/t`;
      for (let i = 0; i < 2; i++) expect((await run(["sync", "-q", source, dest])).code).toBe(EXIT.ok);
      writeFileSync(target, Buffer.alloc(4096, 7), { flag: "r+" }); // the target written since: refused
      const wrong = await run(["sync", "-q", source, dest]);
      expect(wrong.code).toBe(EXIT.diverged);
      await new Promise((r) => setTimeout(r, 300)); // the receiver records after the connection ends
      const theirs = await run(["status", "--history", "--json", target]);
      expect(theirs.code, theirs.stderr).toBe(EXIT.ok);
      const served = JSON.parse(theirs.stdout).entries;
      expect(served.map((e: { ok: boolean }) => e.ok)).toEqual([true, true, false]);
      expect(served[0]).toMatchObject({ destination: "t", mode: "copy" });
      expect(served[0].bytesReceived).toBeGreaterThan(0);
      const ours = await run(["status", "--history", "--json"]);
      const mine = JSON.parse(ours.stdout).entries.filter((e: { destination: string }) => e.destination === dest);
      expect(mine.map((e: { ok: boolean; exitCode: number }) => [e.ok, e.exitCode])).toEqual([
        [true, 0],
        [true, 0],
        [false, wrong.code],
      ]);
      const text = await run(["status", "--history", "2", target]);
      expect(text.stdout.trim().split("\n")).toHaveLength(2);
      expect(text.stdout).toMatch(/FAILED E_/);
    } finally {
      server.child.kill("SIGTERM");
    }
  });
});
