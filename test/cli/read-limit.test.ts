/**
 * --read-limit paces the source's disk reads, apart from --bwlimit on the
 * wire. The rate itself is measured in the bench (bench/read-limit.ts); here
 * only loosely: a limited sync cannot finish sooner than its reads allow,
 * which load on the machine can only make truer.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { BATCH_BYTES } from "../../src/engine/volume-reader.js";
import { sendArgs } from "../../src/job/source-setup.js";
import { run, startServer } from "../helpers/cli.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

const MiB = 1 << 20;

describe("--read-limit", () => {
  it("paces a local sync's reads of the source: all of it read, no faster than the limit", async () => {
    const source = join(scratch.dir, "src.img");
    const target = join(scratch.dir, "dst.img");
    writeFileSync(source, seededBytes(64 * MiB, testSeed("read limit")));
    const r = await run(["sync", "--json", "--create", "--read-limit", "8M", source, target]);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const summary = JSON.parse(r.stdout);
    expect(summary.bytes.read).toBe(64 * MiB);
    // Each read of a batch (BATCH_BYTES) waits for the bytes before it: 64 MiB at 8 MiB/s in
    // 16 MiB batches, the last starting after 48 MiB, takes at least 6 s (unlimited: about 1 s).
    expect(summary.seconds).toBeGreaterThanOrEqual((64 * MiB - BATCH_BYTES) / (8 * MiB));
    expect(sha256(target)).toBe(sha256(source));
  });

  it("reaches the source of a pull (send's arguments) and is refused when it is no rate", async () => {
    expect(sendArgs({ readLimit: 8 * MiB } as Parameters<typeof sendArgs>[0])).toEqual(
      expect.arrayContaining(["--read-limit", String(8 * MiB)]),
    );
    const r = await run(["sync", "--read-limit", "fast", "a.img", "b.img"]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/--read-limit/);
  });

  it("is a job file key", async () => {
    const server = await startServer(["--target", `t=${join(scratch.dir, "t.img")}`, "--create"]);
    try {
      const source = join(scratch.dir, "job-src.img");
      writeFileSync(source, seededBytes(4 * MiB, testSeed("read limit job")));
      const job = join(scratch.dir, "job.toml");
      writeFileSync(
        job,
        `[job.pool]\nsource = "${source}"\ndestination = "tcp://127.0.0.1:${server.port}/t"\nread-limit = "2M"\n`,
      );
      const r = await run(["run", "--json", job]);
      expect(r.code, r.stderr).toBe(EXIT.ok);
      expect(sha256(join(scratch.dir, "t.img"))).toBe(sha256(source));
    } finally {
      server.child.kill();
    }
  });
});
