import { lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Placement } from "../../src/dirsync/place.js";
import type { BlockferryError } from "../../src/errors.js";
import { scratchDir } from "../helpers/files.js";
import { leftovers } from "./helpers.js";
import { begin, connect, entry, meta, NONE } from "./script.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

/** Places a tree holding one file `f` with `content` at `dest`, through the placement alone. */
async function place(dest: string, content: string): Promise<void> {
  const p = await Placement.prepare(dest, () => {});
  const f = await p.stagingDir.createFile(Buffer.from("f"), 0o644);
  await f.write(Buffer.from(content), 0);
  await f.close();
  await p.commit();
}

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

  it("commits into a destination that did not exist, then replaces it", async () => {
    const dest = join(scratch.dir, "new");
    await place(dest, "x");
    expect(readFileSync(join(dest, "f"), "utf8")).toBe("x");
    await place(dest, "y");
    expect(readFileSync(join(dest, "f"), "utf8")).toBe("y");
    expect(leftovers(dest)).toEqual([]);
  });
});

describe("metadata", () => {
  it("keeps modification times to the nanosecond: files, directories, symlinks and the root", async () => {
    const dest = join(scratch.dir, "times");
    const at = (mtimeNsec: number) => meta({ mtimeSec: 1_600_000_000, mtimeNsec });
    const c = connect(dest);
    await c.send(
      begin(),
      entry("dir", "d", 0, NONE, at(1)),
      entry("file", "d/f", 0, NONE, at(123_456_789)),
      entry("symlink", "l", 0, Buffer.from("/etc"), at(999_999_999)),
    );
    await c.send(c.end());
    expect(await c.close()).toEqual([{ dest, entries: 3, bytes: 0 }]);
    const ns = (rel: string) => lstatSync(join(dest, rel), { bigint: true }).mtimeNs;
    expect(ns("d")).toBe(1_600_000_000_000_000_001n);
    expect(ns("d/f")).toBe(1_600_000_000_123_456_789n);
    expect(ns("l")).toBe(1_600_000_000_999_999_999n);
    expect(ns(".")).toBe(1_600_000_000_000_000_000n);
  });
});
