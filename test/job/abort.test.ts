/**
 * A job aborted (SIGINT, SIGTERM) before its local sync began: it fails with
 * E_INTERRUPTED and writes nothing. The in-process link was destroyed as soon
 * as it was made, before anything listened to it, and the error it emitted
 * then was uncaught: the process died without its cleanup (hooks, snapshot).
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TransferStats } from "../../src/engine/stats.js";
import { runSync } from "../../src/job/sync.js";
import { failure } from "../helpers/failure.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("an aborted job", () => {
  it("aborted before its local sync began: E_INTERRUPTED, nothing written, nothing uncaught", async () => {
    const source = join(scratch.dir, "source.img");
    const target = join(scratch.dir, "target.img");
    writeFileSync(source, seededBytes(1 << 20, 7));
    const controller = new AbortController();
    controller.abort();
    const e = await failure(
      runSync({
        source,
        destination: { kind: "local", path: target },
        blockSize: 64 * 1024,
        fineSize: 4096,
        compress: false,
        full: false,
        verify: false,
        dryRun: false,
        bwlimit: undefined,
        create: true,
        stateDir: scratch.dir,
        cacheDir: join(scratch.dir, "cache"),
        readCache: true,
        cacheRuns: 6,
        security: async () => {
          throw new Error("no network here");
        },
        ssh: { rsh: "ssh", remotePath: "blockferry" },
        stats: new TransferStats(),
        log: () => {},
        signal: controller.signal,
      }),
    );
    expect(e.code).toBe("E_INTERRUPTED");
    expect(existsSync(target)).toBe(false);
    // Anything emitted without a listener would surface in this turn or the next.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
});
