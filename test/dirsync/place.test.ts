import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Placement } from "../../src/dirsync/place.js";
import type { BlockferryError } from "../../src/errors.js";
import { scratchDir } from "../helpers/files.js";
import { leftovers } from "./helpers.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("placing a tree", () => {
  it("after a crash between the two renames, puts the old tree back first", async () => {
    const dest = join(scratch.dir, "crashed");
    mkdirSync(`${dest}.blockferry-old`);
    writeFileSync(join(`${dest}.blockferry-old`, "f"), "the old tree");
    mkdirSync(`${dest}.blockferry-new`);
    writeFileSync(join(`${dest}.blockferry-new`, "f"), "maybe complete, maybe not");
    const lines: string[] = [];
    const p = await Placement.prepare(dest, (l) => lines.push(l));
    await p.discard();
    expect(readFileSync(join(dest, "f"), "utf8")).toBe("the old tree");
    expect(leftovers(dest)).toEqual([]);
    expect(lines[0]).toMatch(/restoring the previous tree/);
  });

  it("refuses a destination whose parent does not exist, creating nothing", async () => {
    const dest = join(scratch.dir, "missing", "dest");
    const e = await Placement.prepare(dest, () => {}).catch((e: unknown) => e);
    expect((e as BlockferryError).code).toBe("E_NOT_FOUND");
    expect(leftovers(dest)).toEqual([]);
  });

  it("commits into a destination that did not exist", async () => {
    const dest = join(scratch.dir, "new");
    const p = await Placement.prepare(dest, () => {});
    writeFileSync(join(p.staging, "f"), "x");
    await p.commit();
    expect(readFileSync(join(dest, "f"), "utf8")).toBe("x");
    expect(leftovers(dest)).toEqual([]);
  });
});
