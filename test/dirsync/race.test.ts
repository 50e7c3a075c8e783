/**
 * Two placements at once, and layouts changed under a placement: whatever
 * the interleaving, nothing is ever written outside the allowed directory.
 * The receiver's own policy (checkDirAllowed) decides where each connection
 * may place, as in `serve --allow-dir`.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BlockferryError } from "../../src/errors.js";
import { checkDirAllowed, type ReceiverConfig } from "../../src/job/targets.js";
import { scratchDir } from "../helpers/files.js";
import { seededInts, testSeed } from "../helpers/random.js";
import { leftovers, snapshot } from "./helpers.js";
import { begin, connect, data, dir, exists, file, link, stream, until } from "./script.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
let serial = 0;
const fresh = (name: string) => {
  const path = join(scratch.dir, `${name}-${++serial}`);
  mkdirSync(path);
  return path;
};

/** Targets "a" and "b" whose --allow-dir roots are both `root` (they overlap). */
function receiver(root: string) {
  const config: ReceiverConfig = {
    targets: new Map(),
    create: false,
    stateDir: join(scratch.dir, "state"),
    allowDirs: [
      { name: "a", dir: root },
      { name: "b", dir: root },
    ],
    log: () => {},
  };
  return (target: string) => (dest: string) => checkDirAllowed(dest, target, config);
}

/** An allowed root, a directory outside it, and a receiver that lets targets a and b place under the root. */
function layout() {
  const root = fresh("allowed");
  const outside = fresh("outside");
  writeFileSync(join(outside, "keep"), "not blockferry's");
  return { root, outside, before: snapshot(outside), policy: receiver(root) };
}

const staging = (dest: string) => `${dest}.blockferry-new`;
const ROUNDS = Number(process.env.BLOCKFERRY_RACE_ROUNDS) || 40;

describe("two connections placing at once", () => {
  it("the second cannot plant a symlink in the first's staging tree (the attack of issue 15, finding 1)", async () => {
    const { root, outside, before, policy } = layout();
    const dest = join(root, "app");
    const first = connect(dest, policy("a"));
    await first.send(begin(), dir("sub"));
    expect(await until(exists(join(staging(dest), "sub")))).toBe(true);

    // The second connection places a tree AT the first's staging name, its "sub" a symlink out.
    const second = connect(staging(dest), policy("b"));
    await second.send(...stream(link("sub", outside)));
    const refused = await second.close();

    await first.send(file("sub/cron", 4), data(4));
    await first.send(first.end());
    const placed = await first.close();
    // The old code wrote outside/cron here, with the owner and mode the source chose.
    expect(snapshot(outside)).toEqual(before);
    expect(refused).toBeInstanceOf(BlockferryError);
    expect((refused as BlockferryError).code).toBe("E_ACCESS");
    expect((refused as BlockferryError).message).toMatch(/\.blockferry-new.*staging/);
    expect(placed).toEqual([{ dest, entries: 2, bytes: 4 }]);
    expect(readFileSync(join(dest, "sub", "cron"), "utf8")).toBe("aaaa");
    expect(leftovers(dest)).toEqual([]);
  });

  it("placements into overlapping places run one after the other, never at once", async () => {
    const { root, outside, before, policy } = layout();
    const app = join(root, "app");
    mkdirSync(app);
    const inner = join(app, "conf");
    // The inner placement starts first and is half way through ...
    const first = connect(inner, policy("a"));
    await first.send(begin(), dir("d"));
    expect(await until(exists(join(staging(inner), "d")))).toBe(true);

    // ... when another connection replaces the directory that holds it: it waits.
    const second = connect(app, policy("b"));
    await second.send(...stream(file("f", 1), data(1)));
    expect(await until(() => second.lines.some((l) => /waiting for another placement/.test(l)))).toBe(true);
    expect(leftovers(app)).toEqual([]);

    await first.send(file("d/x", 2), data(2));
    await first.send(first.end());
    expect(await first.close()).toEqual([{ dest: inner, entries: 2, bytes: 2 }]);
    expect(await second.close()).toEqual([{ dest: app, entries: 1, bytes: 1 }]);
    expect(readdirSync(app)).toEqual(["f"]);
    expect(leftovers(app)).toEqual([]);
    expect(leftovers(inner)).toEqual([]);
    expect(snapshot(outside)).toEqual(before);
  });
});

describe("a symlink swapped into the path under a placement is never followed", () => {
  it("inside the staging tree (a directory already created becomes a symlink)", async () => {
    const { root, outside, before, policy } = layout();
    const dest = join(root, "app");
    const c = connect(dest, policy("a"));
    await c.send(begin(), dir("sub"));
    expect(await until(exists(join(staging(dest), "sub")))).toBe(true);
    renameSync(join(staging(dest), "sub"), join(root, "moved"));
    symlinkSync(outside, join(staging(dest), "sub"));

    await c.send(file("sub/cron", 4), data(4), dir("sub/x"));
    await c.send(c.end());
    await c.close();
    expect(snapshot(outside)).toEqual(before);
    // What was sent went into the directory the placement created, wherever it was moved.
    expect(readFileSync(join(root, "moved", "cron"), "utf8")).toBe("aaaa");
    expect(leftovers(dest)).toEqual([]);
  });

  it("the staging directory itself (replaced by a symlink): refused at the swap, DEST left alone", async () => {
    const { root, outside, before, policy } = layout();
    const dest = join(root, "app");
    mkdirSync(dest);
    writeFileSync(join(dest, "old"), "old tree");
    const c = connect(dest, policy("a"));
    await c.send(begin(), dir("sub"));
    expect(await until(exists(join(staging(dest), "sub")))).toBe(true);
    renameSync(staging(dest), join(root, "moved"));
    symlinkSync(outside, staging(dest));

    await c.send(file("sub/cron", 4), data(4));
    await c.send(c.end());
    const outcome = await c.close();
    expect(outcome).toBeInstanceOf(BlockferryError);
    expect((outcome as BlockferryError).message).toMatch(/changed under the placement/);
    expect(snapshot(outside)).toEqual(before);
    expect(readdirSync(dest)).toEqual(["old"]);
  });

  it("the parent of DEST (replaced by a symlink to a look-alike tree outside)", async () => {
    const { root, outside, policy } = layout();
    const parent = join(root, "p");
    mkdirSync(parent);
    const dest = join(parent, "app");
    // Outside, a tree that looks like the placement's staging: a path walk would land in it.
    mkdirSync(join(outside, "app.blockferry-new", "sub"), { recursive: true });
    const before = snapshot(outside);
    const c = connect(dest, policy("a"));
    await c.send(begin(), dir("sub"));
    expect(await until(exists(join(staging(dest), "sub")))).toBe(true);
    renameSync(parent, join(root, "p-moved"));
    symlinkSync(outside, parent);

    await c.send(file("sub/cron", 4), data(4));
    await c.send(c.end());
    expect(await c.close()).toEqual([{ dest, entries: 2, bytes: 4 }]);
    expect(snapshot(outside)).toEqual(before);
    // The tree went where the placement opened the parent, before the swap.
    expect(readFileSync(join(root, "p-moved", "app", "sub", "cron"), "utf8")).toBe("aaaa");
  });

  it("a leftover DEST.blockferry-old that is a symlink is removed, never restored as DEST nor followed", async () => {
    const { root, outside, before, policy } = layout();
    const dest = join(root, "app");
    symlinkSync(outside, `${dest}.blockferry-old`);
    const c = connect(dest, policy("a"));
    await c.send(...stream(file("f", 1), data(1)));
    expect(await c.close()).toEqual([{ dest, entries: 1, bytes: 1 }]);
    expect(readdirSync(dest)).toEqual(["f"]);
    expect(snapshot(outside)).toEqual(before);
    expect(leftovers(dest)).toEqual([]);
  });

  it("a directory planted by an earlier tree cannot be written through (a real directory, emptied and relinked)", async () => {
    const { root, outside, before, policy } = layout();
    const dest = join(root, "app");
    const c = connect(dest, policy("a"));
    await c.send(begin(), dir("a"), dir("a/b"));
    expect(await until(exists(join(staging(dest), "a", "b")))).toBe(true);
    rmdirSync(join(staging(dest), "a", "b"));
    symlinkSync(outside, join(staging(dest), "a", "b"));
    await c.send(file("a/b/f", 1), data(1));
    await c.send(c.end());
    const outcome = await c.close();
    expect(outcome).toBeInstanceOf(BlockferryError);
    expect(snapshot(outside)).toEqual(before);
    expect(leftovers(dest)).toEqual([]);
  });
});

describe("random interleavings (seeded)", () => {
  it("two connections and a symlink swapped in at a random step never write outside the allowed root", async () => {
    const seed = testSeed("dirsync race");
    const pick = seededInts(seed);
    const outcomes: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const { root, outside, before, policy } = layout();
      const app = join(root, "app");
      mkdirSync(join(app, "conf"), { recursive: true });
      const firstDest = [app, join(app, "conf")][pick(2)] as string;
      const secondDest = [app, join(app, "conf"), staging(app), join(staging(app), "sub"), join(root, "other")][
        pick(5)
      ] as string;
      const first = connect(firstDest, policy("a"));
      await first.send(begin(), dir("sub"), dir("sub/deep"));
      expect(await until(exists(join(staging(firstDest), "sub", "deep")))).toBe(true);
      const second = connect(secondDest, policy("b"));
      await second.send(...stream(link("sub", outside), file("x", 1), data(1)));
      const swap = pick(4);
      if (swap === 1) {
        renameSync(join(staging(firstDest), "sub"), join(root, "moved"));
        symlinkSync(outside, join(staging(firstDest), "sub"));
      } else if (swap === 2) {
        renameSync(staging(firstDest), join(root, "moved"));
        symlinkSync(outside, staging(firstDest));
      } else if (swap === 3) {
        rmdirSync(join(staging(firstDest), "sub", "deep"));
        symlinkSync(outside, join(staging(firstDest), "sub", "deep"));
      }
      await first.send(file("sub/deep/f", 2), data(2), file("sub/zz", 4), data(4));
      await first.send(first.end());
      const a = await first.close();
      const b = await second.close();
      const name = (r: unknown) => (r instanceof BlockferryError ? r.code : "placed");
      const key = `swap ${swap}: ${name(a)} / ${name(b)}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      expect(snapshot(outside), `round ${round}, seed ${seed}, ${key}`).toEqual(before);
    }
    console.log(`[dirsync race] ${ROUNDS} rounds:`, outcomes);
  });
});
