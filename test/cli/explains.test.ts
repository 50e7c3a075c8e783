/**
 * A CLI that explains itself (issue 21): one unit convention with
 * unambiguous suffixes, both rates in progress, ages said as people say
 * them, a newly pinned key said even under --quiet, and no "(it read
 * nothing)" beside what the target read.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { statusLine } from "../../src/cli/progress.js";
import { TransferStats } from "../../src/engine/stats.js";
import { formatAge, parseSize } from "../../src/units.js";
import { run, serversKilledAfterAll, startServer } from "../helpers/cli.js";
import { scatter, writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { testSeed } from "../helpers/random.js";

const scratch = scratchDir();
const servers = serversKilledAfterAll();
afterAll(() => scratch.remove());

describe("units", () => {
  it("K, M, KiB, MiB are powers of 1024; KB, MB powers of 1000; a B alone is bytes", () => {
    expect(parseSize("--bwlimit", "50M")).toBe(50 * 2 ** 20);
    expect(parseSize("--bwlimit", "50MiB")).toBe(50 * 2 ** 20);
    expect(parseSize("--bwlimit", "50MB")).toBe(50_000_000);
    expect(parseSize("--bwlimit", "50mb")).toBe(50_000_000);
    expect(parseSize("--bwlimit", "1.5GB")).toBe(1_500_000_000);
    expect(parseSize("--block-size", "64K")).toBe(65536);
    expect(parseSize("--block-size", "64KiB")).toBe(65536);
    expect(parseSize("--block-size", "4096B")).toBe(4096);
    expect(() => parseSize("--bwlimit", "50MX")).toThrow(/50MiB \(powers of 1024\), or 50MB \(powers of 1000\)/);
  });

  it("a rate is shown in MiB/s, as sizes are in MiB; progress shows the read rate and the wire rate", () => {
    const stats = new TransferStats();
    (stats as { startedAt: number }).startedAt = Date.now() - 10_000;
    stats.totalBytes = 1000 * 2 ** 20;
    stats.doneBytes = 400 * 2 ** 20; // 40 MiB/s of the volume
    stats.wireBytes = 100 * 2 ** 20; // 10 MiB/s on the wire (a --bwlimit, zeros, lz4)
    const line = statusLine(stats, "sync");
    expect(line).toMatch(/read (39|40)\.\d MiB\/s/);
    expect(line).toMatch(/sent 100\.0 MiB, wire (9|10)\.\d MiB\/s/);
    expect(line).not.toMatch(/MB\/s/);
  });

  it("ages are said as people say them", () => {
    expect(formatAge(1)).toBe("1 s");
    expect(formatAge(90)).toBe("90 s");
    expect(formatAge(1800)).toBe("30 min");
    expect(formatAge(26 * 3600)).toBe("26 h");
    expect(formatAge(1.5 * 3600)).toBe("90 min");
    expect(formatAge(3.5 * 86400)).toBe("3.5 days");
  });
});

describe("what sync and status say", () => {
  it("--bwlimit 50MB is accepted as 10^6 bytes/s; status echoes --max-age as given, not as a float of hours", async () => {
    const source = join(scratch.dir, "s.img");
    writeMixedImage(source, 4 << 20, testSeed("units"));
    const copy = join(scratch.dir, "c.img");
    const r = await run(["sync", "-q", "--create", "--bwlimit", "50MB", source, copy]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    await new Promise((res) => setTimeout(res, 1100));
    const stale = await run(["status", "--max-age", "1s", copy]);
    expect(stale.code).toBe(EXIT.stale);
    expect(stale.stderr).toMatch(/old, more than --max-age 1 s$/m);
  });

  it("a newly pinned receiver key is said even under --quiet", async () => {
    const target = join(scratch.dir, "pin.img");
    const server = await startServer(["--target", `t=${target}`, "--create"]);
    servers.push(server);
    const source = join(scratch.dir, "pin-src.img");
    writeMixedImage(source, 1 << 20, testSeed("pin"));
    const knownHosts = join(scratch.dir, "fresh_known_hosts");
    const url = `tcp://127.0.0.1:${server.port}/t`;
    const r = await run(["sync", "-q", "--trust-new-host", "--known-hosts", knownHosts, source, url]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toMatch(/pinned the receiver at 127\.0\.0\.1:\d+: sha256:\S+/);
    const again = await run(["sync", "-q", "--known-hosts", knownHosts, source, url]);
    expect(again.stderr).toBe(""); // pinned already: nothing to say under --quiet
  });

  it("--verify after a delta from the digest cache says the target re-read its copy, not that it read nothing", async () => {
    const source = join(scratch.dir, "v.img");
    const seed = testSeed("verify cache");
    writeMixedImage(source, 8 << 20, seed);
    const copy = join(scratch.dir, "v-copy.img");
    expect((await run(["sync", "-q", "--create", source, copy])).code).toBe(EXIT.ok);
    writeMixedImage(source, 8 << 20, seed + 1);
    const r = await run(["sync", "--verify", source, copy]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toMatch(/digests from the cache, target read [1-9]/);
    expect(r.stderr).not.toMatch(/it read nothing/);
    expect(r.stderr).toMatch(/verified, the target re-reading its copy/);
    expect(r.stderr).not.toMatch(/local[_-]/); // the local target's internal name is never shown
    // Without --verify the target reads the blocks offered piece by piece, and re-reads nothing.
    scatter(source, 5, seed + 2);
    const plain = await run(["sync", "--json", source, copy]);
    expect(plain.code, plain.stderr).toBe(EXIT.ok);
    expect(JSON.parse(plain.stdout)).toMatchObject({ digestsFrom: "cache", reread: false });
    expect(JSON.parse(plain.stdout).bytes.targetRead).toBeGreaterThan(0);
    expect(plain.stderr).toMatch(/verified against the target's record \(it read only the changed blocks\)/);
    expect(plain.stderr).not.toMatch(/re-reading/);
  });
});

describe("sync --help", () => {
  it("groups the options (what, how, where, snapshot and hooks, safety, output) and ends with examples", async () => {
    const r = await run(["sync", "--help"]);
    expect(r.code).toBe(EXIT.ok);
    const headings = [...r.stdout.matchAll(/^(\S[^\n]*):$/gm)].map((m) => m[1]);
    expect(headings).toEqual([
      "Arguments",
      "What to copy",
      "How it is copied",
      "Where it goes",
      "Snapshot and hooks",
      "Safety",
      "Output",
      "Options",
      "Examples",
    ]);
    const section = (h: string) => r.stdout.split(`\n${h}:\n`)[1]?.split(/\n\n/)[0] ?? "";
    expect(section("Snapshot and hooks")).toMatch(/--pre-snapshot/);
    expect(section("Safety")).toMatch(/--keep-good/);
    expect(section("Output")).toMatch(/--metrics-file/);
    expect(section("Options")).not.toMatch(/--verify|--json|--compress/); // only --help is left there
    expect(r.stdout.trimEnd()).toMatch(/Examples:\n( {2}.*\n)+ {2}blockferry sync --dry-run \S+ \S+$/);
  });
});
