import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
const launcher = join(import.meta.dirname, "..", "..", "dist", "cli", "blockferry.cjs");

describe("the built CLI's launcher (dist/cli/blockferry.cjs)", () => {
  it("starts blockferry with libuv's thread pool at 16 threads, which an ES module entry cannot do", async () => {
    expect(existsSync(launcher), `${launcher} is missing: run npm run build`).toBe(true);
    const source = join(scratch.dir, "a.img");
    writeMixedImage(source, 32 * 1024 * 1024, 9);
    const dirs = { BLOCKFERRY_STATE_DIR: scratch.dir, BLOCKFERRY_CACHE_DIR: scratch.dir };
    const { UV_THREADPOOL_SIZE: _set, ...inherited } = process.env; // the launcher's own setting, not ours
    const env = { ...inherited, ...dirs };
    // Slowed to 8 MB/s so that the threads can be counted mid-copy.
    const args = [launcher, "sync", "--quiet", "--create", "--bwlimit", "8M", source, join(scratch.dir, "b.img")];
    const child = spawn(process.execPath, args, { env, stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 1500));
    const threads = readdirSync(`/proc/${child.pid}/task`).length;
    child.kill();
    await once(child, "exit");
    // The main thread, 16 of the pool's, and V8's own (an ES module entry: 4 of the pool's, 11 in all).
    expect(threads).toBeGreaterThanOrEqual(17);
  });
});
