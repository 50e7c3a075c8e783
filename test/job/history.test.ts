import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { appendHistory, readHistory, targetHistoryPath } from "../../src/job/history.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
const entry = (i: number) => ({
  at: `2026-01-01T00:00:${String(i).padStart(2, "0")}Z`,
  destination: "d",
  ok: true,
  seconds: i,
  bytesRead: i,
});

describe("the history of syncs", () => {
  it("is bounded: past the limit and a tenth, only the last entries are kept, in order", async () => {
    const path = join(scratch.dir, "h.jsonl");
    for (let i = 0; i < 25; i++) await appendHistory(path, entry(i), 10);
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines.length).toBeLessThanOrEqual(11);
    const kept = await readHistory(path);
    expect(kept.at(-1)?.seconds).toBe(24);
    expect(kept.map((e) => e.seconds)).toEqual([...Array(kept.length).keys()].map((k) => 25 - kept.length + k));
  });

  it("skips a torn last line and what is not an entry", async () => {
    const path = join(scratch.dir, "torn.jsonl");
    await appendHistory(path, entry(1));
    appendFileSync(path, '"just a string"\n{"at": "x", "ok": tr');
    expect((await readHistory(path)).map((e) => e.seconds)).toEqual([1]);
    expect(await readHistory(join(scratch.dir, "none.jsonl"))).toEqual([]);
  });

  it("lives beside the target's state file", () => {
    expect(targetHistoryPath("/a/b.img.blockferry-state.json")).toBe("/a/b.img.blockferry-history.jsonl");
    expect(targetHistoryPath("/var/lib/blockferry/t.state.json")).toBe("/var/lib/blockferry/t.history.jsonl");
  });
});
