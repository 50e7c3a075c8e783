import { spawnSync } from "node:child_process";
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
    // (a collection is stamped when it began, so it is left out of the order)
    const times = lines
      .slice(1)
      .filter((l) => l.event !== "gc")
      .map((l) => l.ms);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(lines.map((l) => l.pid)).size).toBe(1);
    const exit = lines.at(-1) as Line;
    expect(exit.utilization).toBeGreaterThan(0);
    expect(exit.utilization).toBeLessThanOrEqual(1);
    expect(typeof exit.delayMaxMs).toBe("number");
  });

  it("appends its lines in batches as the run goes, not all at exit", async () => {
    const file = join(scratch.dir, "long.jsonl");
    const timeline = join(import.meta.dirname, "..", "..", "src", "timeline.ts");
    // 25,000 marks, then the file is counted before the process exits.
    const script = `const { mark } = await import(${JSON.stringify(timeline)});
      const { readFileSync } = await import("node:fs");
      for (let i = 0; i < 25000; i++) mark("tick", { i });
      process.stdout.write(String(readFileSync(${JSON.stringify(file)}, "utf8").split("\\n").length - 1));`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, BLOCKFERRY_TIMELINE: file },
      encoding: "utf8",
    });
    expect(child.status, child.stderr).toBe(0);
    expect(Number(child.stdout)).toBe(20_000); // two batches written while running
    const all = readFileSync(file, "utf8").trim().split("\n");
    // The rest at exit: every tick once, the process's start first and its exit last (a stall or a collection may be marked too).
    const events = all.map((l) => (JSON.parse(l) as Line).event);
    expect(events.filter((e) => e === "tick").length).toBe(25_000);
    expect([events[0], events.at(-1)]).toEqual(["process start", "exit"]);
  });
});
