import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
const root = join(import.meta.dirname, "..", "..");

function jobFile(name: string, text: string): string {
  const path = join(scratch.dir, name);
  writeFileSync(path, text);
  return path;
}

describe("job files", () => {
  it("refuses a bad file with the key, what is wrong and the line, and runs nothing", async () => {
    const target = join(scratch.dir, "never.img");
    const cases: Array<[string, RegExp]> = [
      [
        `[job.a]\nsource = "/x"\ndestination = "${target}"\nblok-size = "64K"\n`,
        /bad1\.toml:4: job "a": unknown key "blok-size"; did you mean "block-size"\?/,
      ],
      [
        `[job.a]\nsource = "/x"\ndestination = "${target}"\nverify = "yes"\n`,
        /:4: job "a": "verify" expects true or false, got "yes"/,
      ],
      [`[job.a]\nsource = "/x"\ndestination = "${target}"\nblock-size = 64K\n`, /:4: not valid TOML/],
      [`[job.a]\ndestination = "${target}"\n`, /:1: job "a": "source" is missing/],
      [
        `[defaults]\nsource = "/x"\n[job.a]\nsource = "/x"\ndestination = "${target}"\n`,
        /:1: \[defaults\]: "source" and "destination" belong in each \[job.NAME\]/,
      ],
      [`[jobs.a]\nsource = "/x"\n`, /:1: unknown table or key "jobs"/],
      [`[job.a]\nsource = "/x"\ndestination = "${target}"\njson = true\n`, /:4: job "a": unknown key "json"/],
      [
        `[job.a]\nsource = "/x"\ndestination = "${target}"\nwith-dir = ["relative/dir:rel"]\n`,
        /job "a": --with-dir: expected SRC_DIR or SRC_DIR:DEST_DIR/,
      ],
      // Values are checked as sync checks them, before anything runs, and named with their line.
      [
        `[job.a]\nsource = "/x"\ndestination = "${target}"\nblock-size = "63K"\n`,
        /:4: job "a": --block-size: expected a power of two/,
      ],
      [
        `[defaults]\nsnapshot = "lvmm"\n[job.a]\nsource = "/x"\ndestination = "${target}"\n`,
        /:2: job "a": --snapshot: expected lvm or none/,
      ],
      [
        `[job.a]\nsource = "/x"\ndestination = "tcp://h/x"\n`,
        /:3: job "a": DEST: expected tcp:\/\/HOST:PORT\/TARGET-NAME/,
      ],
      [
        `[job.a]\nsource = "/x"\ndestination = "${target}"\nhook-timeout = "30d"\n`,
        /:4: job "a": --hook-timeout: expected at most 24h/,
      ],
      [
        `[job.a]\nsource = "/x"\ndestination = "${target}"\nsnapshot = "lvm"\nsnapshot-size = "101%FREE"\n`,
        /:5: job "a": --snapshot-size: expected a size/,
      ],
      // A pull cannot take the snapshot where the volume is: refused before any job runs.
      [
        `[job.a]\nsource = "primary:/dev/vg/pool"\ndestination = "${target}"\nsnapshot = "lvm"\n`,
        /:4: job "a": --snapshot lvm: expected a local LV as SOURCE \(run the sync on primary, pushing to this host\)/,
      ],
      // Lines inside a multi-line string, and comments after a header, do not mislead the line count.
      [
        `[job.a]   # the pool\nsource = "/x"\ndestination = "${target}"\npre-snapshot = '''\n[ -e /run/x ] && exit 1\nverfy = 1\n'''\nverfy = true\n`,
        /:8: job "a": unknown key "verfy"; did you mean "verify"\?/,
      ],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const file = jobFile(`bad${i + 1}.toml`, text);
      const r = await run(["run", file]);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(EXIT.config);
    }
    expect(existsSync(target)).toBe(false);
  });

  it("checks the example job file shipped in contrib/", async () => {
    // Its syntax and values pass; what this machine lacks (the volume, the key) is listed, as on a host not set up yet.
    const r = await run(["run", "--check", join(root, "contrib", "nightly.toml")]);
    expect(r.stdout).toMatch(/^backuppc: \/dev\/vg0\/backuppc -> tcp:\/\/backup2\.example\.net:7300\/pool\n/);
    expect(r.stdout).toMatch(/^ {2}source: .*\/dev\/vg0\/backuppc/m);
    expect(r.stdout).toMatch(/^ {2}key-dir: /m);
    expect(r.stdout).not.toMatch(/not valid|unknown key|expected/);
    expect(r.code).toBe(EXIT.config);
  });

  it("runs the jobs named, in parallel when they share nothing, and reports each in one JSON summary", async () => {
    const images = ["one", "two", "three"].map((n, i) => {
      const source = join(scratch.dir, `${n}.img`);
      return {
        name: n,
        source,
        target: join(scratch.dir, `${n}-copy.img`),
        data: writeMixedImage(source, 3 << 20, 40 + i),
      };
    });
    // Each named job's pre hook marks that it started, then waits (up to 20 s) for the other's mark:
    // run at once, both see the other; one after the other, the first would wait in vain.
    const marks = join(scratch.dir, "marks");
    const other: Record<string, string> = { three: "one", one: "three" };
    const hook = (name: string) =>
      other[name] === undefined
        ? ""
        : `pre-snapshot = "touch ${marks}/${name}.started; for i in $(seq 200); do [ -e ${marks}/${other[name]}.started ] && { echo yes > ${marks}/${name}.overlap; exit 0; }; sleep 0.1; done; echo no > ${marks}/${name}.overlap"\n`;
    mkdirSync(marks, { recursive: true });
    const file = jobFile(
      "good.toml",
      `# three local copies\n[defaults]\ncreate = true\ncompress = "lz4"\nblock-size = "16K"\n\n` +
        images
          .map((m) => `[job.${m.name}]\nsource = "${m.source}"\ndestination = "${m.target}"\n${hook(m.name)}`)
          .join("\n"),
    );
    const r = await run(["run", "--jobs", "2", "--json", file, "three", "one"]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const summary = JSON.parse(r.stdout);
    expect(summary.ok).toBe(true);
    expect(summary.jobs.map((j: { job: string }) => j.job)).toEqual(["three", "one"]);
    expect(summary.jobs[0]).toMatchObject({ ok: true, blockSize: 16384, verified: true, mode: "copy" });
    expect(readFileSync(images[2]?.target ?? "").equals(images[2]?.data ?? Buffer.alloc(0))).toBe(true);
    expect(readFileSync(images[0]?.target ?? "").equals(images[0]?.data ?? Buffer.alloc(0))).toBe(true);
    expect(existsSync(images[1]?.target ?? "")).toBe(false); // not named
    expect(r.stderr).toMatch(/\[three\] copied/);
    expect(readFileSync(join(marks, "three.overlap"), "utf8").trim()).toBe("yes");
    expect(readFileSync(join(marks, "one.overlap"), "utf8").trim()).toBe("yes");
  });

  it("goes on with the other jobs when one fails, and exits with the first failure's code", async () => {
    const source = join(scratch.dir, "ok.img");
    const data = writeMixedImage(source, 1 << 20, 50);
    const target = join(scratch.dir, "ok-copy.img");
    const file = jobFile(
      "partial.toml",
      `[job.missing]\nsource = "${join(scratch.dir, "nope.img")}"\ndestination = "${join(scratch.dir, "x.img")}"\ncreate = true\n` +
        `[job.fine]\nsource = "${source}"\ndestination = "${target}"\ncreate = true\n`,
    );
    const r = await run(["run", "--json", file]);
    expect(r.code).toBe(EXIT.notFound);
    expect(r.stderr).toMatch(/\[missing\] failed: .*nope\.img/);
    expect(r.stderr).toMatch(/1 of 2 jobs failed: missing \(E_NOT_FOUND\)/);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: false,
      jobs: [
        { job: "missing", ok: false, exitCode: EXIT.notFound },
        { job: "fine", ok: true },
      ],
    });
    expect(readFileSync(target).equals(data)).toBe(true);
  });
});

describe("blockferry status", () => {
  it("reports the last sync, and fails for a copy never made (not found), incomplete, or older than --max-age", async () => {
    const source = join(scratch.dir, "st.img");
    const target = join(scratch.dir, "st-copy.img");
    writeMixedImage(source, 2 << 20, 60);
    const never = await run(["status", target]);
    expect(never.code).toBe(EXIT.notFound);
    expect(never.stderr).toMatch(/no volume at/);

    expect((await run(["sync", "-q", "--create", "--verify", source, target])).code).toBe(EXIT.ok);
    const ok = await run(["status", "--json", "--max-age", "1h", target]);
    expect(ok.code, ok.stderr).toBe(EXIT.ok);
    const s = JSON.parse(ok.stdout);
    expect(s).toMatchObject({
      ok: true,
      complete: true,
      generation: 1,
      lastSync: { mode: "copy", generation: 1, reread: true },
    });
    expect(s.lastSync.sourceId).toMatch(/st\.img$/);
    expect(s.lastSync.bytesIn).toBeGreaterThan(0);
    const human = await run(["status", target]);
    expect(human.stdout).toMatch(/complete and verified, generation 1/);
    expect(human.stdout).toMatch(/full copy in .* re-read from disk and checked/);

    // Written behind blockferry's back (mounted read-write on the secondary, say): no longer the copy.
    const copy = readFileSync(target);
    copy.writeUInt8(copy.readUInt8(100) ^ 1, 100);
    writeFileSync(target, copy);
    const written = await run(["status", "--json", target]);
    expect(written.code).toBe(EXIT.incomplete);
    expect(JSON.parse(written.stdout)).toMatchObject({ ok: false, complete: true, writtenSince: "yes" });
    expect(written.stderr).toMatch(/written since the last sync .*no longer the verified copy/);
    // A copy written since its last sync is not overwritten unless forced.
    const refused = await run(["sync", "-q", source, target]);
    expect(refused.code).toBe(EXIT.diverged);
    expect(refused.stderr).toMatch(/was written since its last sync .*--force/);
    expect((await run(["sync", "-q", "--force", source, target])).code).toBe(EXIT.ok);
    expect(JSON.parse((await run(["status", "--json", target])).stdout)).toMatchObject({
      ok: true,
      writtenSince: "no",
    });

    // Older than --max-age.
    await new Promise((r) => setTimeout(r, 1100));
    const stale = await run(["status", "--max-age", "1s", "--json", target]);
    expect(stale.code).toBe(EXIT.stale);
    expect(JSON.parse(stale.stdout)).toMatchObject({ ok: false, complete: true });
    expect(stale.stderr).toMatch(/the last completed sync is .* old, more than --max-age/);
  });
});
