import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import type { TimelineLine as Line } from "../../src/timeline.js";
import { run } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("BLOCKFERRY_TIMELINE", () => {
  it("records a sync's reads, messages and writes on one clock, and the main thread's load at exit", async () => {
    const source = join(scratch.dir, "a.img");
    const target = join(scratch.dir, "a-copy.img");
    const file = join(scratch.dir, "timeline.jsonl");
    const size = 20 * 1024 * 1024 + 4096;
    writeMixedImage(source, size, 5);
    const r = await run(["sync", "--quiet", "--create", source, target], { BLOCKFERRY_TIMELINE: file });
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Line);
    const events = lines.map((l) => l.event);
    expect(events[0]).toBe("process start");
    expect(events.at(-1)).toBe("exit");
    for (const e of ["modules loaded", "source opened", "writes drained", "synced", "recorded", "cache saved"]) {
      expect(events).toContain(e);
    }
    // Both roles ran in this one process: each message is marked once sent and once received.
    const types = (what: string) => lines.filter((l) => l.event === what).map((l) => l.type);
    for (const t of ["hello", "welcome", "start", "end", "done"]) {
      expect(types("sent")).toContain(t);
      expect(types("received")).toContain(t);
    }
    // Every byte read from the source and written to the target is accounted for (the zeroed middle is read too).
    const total = (what: string) => lines.filter((l) => l.event === what).reduce((n, l) => n + (l.bytes ?? 0), 0);
    expect(total("read")).toBe(size);
    expect(total("written")).toBeGreaterThan(0);
    expect(total("written")).toBeLessThanOrEqual(size);
    // One clock, in order of marking; the last line says how busy the main thread was.
    const times = lines.slice(1).map((l) => l.ms);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(lines.map((l) => l.pid)).size).toBe(1);
    const exit = lines.at(-1) as Line;
    expect(exit.utilization).toBeGreaterThan(0);
    expect(exit.utilization).toBeLessThanOrEqual(1);
    expect(typeof exit.delayMaxMs).toBe("number");
  });
});
