/**
 * What a hostile source sends after HELLO, as a script of actions that
 * fast-check can draw and shrink. Block numbers are mostly where the target
 * expects them (the script keeps a cursor), so that runs get deep into a
 * copy; sometimes off by a little, or anywhere. The fingerprint at END may be
 * the honest one (the sum of what was sent), so that some scripts complete
 * and reach the directories.
 */
import fc from "fast-check";
import type { DirEntry, DirMeta } from "../../src/protocol/dir-messages.js";
import { often } from "./fuzz.js";
import * as m from "./messages.js";
import { type Mutation, mutations } from "./mutate.js";

export type Pos = { at: "cursor" } | { at: "shift"; by: number } | { at: "block"; block: number };
/** n blocks; at most upTo, as many as remain; or "rest", up to the last block (nothing is sent if none remains). */
export type Count = { n: number } | { upTo: number } | "rest";
export type Fill = "zero" | "random" | "runs";

export type Action = (
  | { t: "start"; fromBlock: number | "resume" }
  | { t: "blocks"; pos: Pos; count: Count; fill: Fill; seed: number }
  | { t: "zeroRun" | "sameRun"; pos: Pos; count: Count }
  /** BLOCK_RUNS over the range: its first and last block sent (one run if under 3 blocks), the rest kept. */
  | { t: "blockRuns"; pos: Pos; count: Count; fill: Fill; seed: number }
  /**
   * digests: as many as the blocks have pieces ("pieces"), the target's own ("same"), or this many;
   * answer: FINE_BLOCKS follows at once, with the pieces asked for.
   */
  | { t: "fineOffer"; pos: Pos; count: Count; digests: "pieces" | "same" | number; answer: Fill | undefined }
  | { t: "fineBlocks"; fill: Fill; seed: number }
  /** The blocks from the cursor to the end, if any remain: the kind of message that suits the target's mode. */
  | { t: "cover"; fill: Fill; seed: number }
  | { t: "end"; blockCount: "right" | number; fingerprint: "honest" | "zero" | "random" }
  | { t: "dirBegin"; index: "next" | number; root: DirMeta }
  | { t: "dirEntry"; entry: DirEntry }
  /** The rest of the last file's bytes (at most 64; nothing if none remain), or this many bytes. */
  | { t: "dirData"; size: "rest" | number; seed: number }
  | { t: "dirEnd"; honest: boolean }
  | { t: "raw"; type: number; body: Uint8Array }
) & {
  /** The action's body, mutated before it is sent. */
  mutate?: Mutation[] | undefined;
};

const pos: fc.Arbitrary<Pos> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ at: "cursor" as const }) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }).map((by) => ({ at: "shift" as const, by })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.nat({ max: 20 }), fc.constantFrom(2 ** 32, 2 ** 53 - 1), fc.maxSafeNat())
      .map((block) => ({ at: "block" as const, block })),
  },
);
const count: fc.Arbitrary<Count> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 4 }).map((upTo) => ({ upTo })) },
  { weight: 6, arbitrary: fc.constant("rest" as const) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => ({ n })) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom(0, 8192, 8193, 2 ** 32), fc.maxSafeNat()).map((n) => ({ n })) },
);
const fill: fc.Arbitrary<Fill> = fc.constantFrom("zero", "random", "runs");
/** Now and then an action's body is broken. */
const withMutate = <T extends object>(a: fc.Arbitrary<T>) =>
  fc.tuple(a, often(fc.constant(undefined), mutations(2), 11)).map(([action, mutate]) => ({ ...action, mutate }));

/** What the target will make of the HELLO: the actions that fit its mode get most of the weight. */
export interface Mode {
  /** The target holds the blocks the source may call the same: a comparison, or the source's cache accepted. */
  compare: boolean;
  /** The target offers to resume an interrupted copy. */
  resume: boolean;
  fine: boolean;
  dry: boolean;
  /** Directories HELLO names. */
  dirs: number;
}

const copyAction = (mode: Mode): fc.Arbitrary<Action> => {
  const w = (fits: boolean, weight: number) => (fits ? 3 * weight : 1);
  return withMutate(
    fc.oneof(
      {
        weight: w(!mode.dry, 6),
        arbitrary: fc.record({ t: fc.constant("blocks" as const), pos, count, fill, seed: fc.nat() }),
      },
      { weight: w(!mode.dry, 4), arbitrary: fc.record({ t: fc.constant("zeroRun" as const), pos, count }) },
      {
        weight: w(mode.compare || mode.dry, 8),
        arbitrary: fc.record({ t: fc.constant("sameRun" as const), pos, count }),
      },
      {
        weight: w(mode.compare && !mode.dry, 4),
        arbitrary: fc.record({ t: fc.constant("blockRuns" as const), pos, count, fill, seed: fc.nat() }),
      },
      {
        weight: w(mode.fine, 6),
        arbitrary: fc.record({
          t: fc.constant("fineOffer" as const),
          pos,
          count,
          digests: often(fc.constantFrom("pieces" as const, "same" as const), fc.nat({ max: 40 })),
          answer: often(fill, fc.constant(undefined), 3),
        }),
      },
      {
        weight: w(mode.fine, 1),
        arbitrary: fc.record({ t: fc.constant("fineBlocks" as const), fill, seed: fc.nat() }),
      },
    ),
  );
};

const end: fc.Arbitrary<Action> = withMutate(
  fc.record({
    t: fc.constant("end" as const),
    blockCount: often(fc.constant("right" as const), fc.nat({ max: 20 })),
    fingerprint: often(fc.constant("honest" as const), fc.constantFrom("zero" as const, "random" as const)),
  }),
);

/** Small files, so that "rest" data can complete them; sometimes a size no data will reach. */
const entry: fc.Arbitrary<DirEntry> = often(
  m.dirEntry.map((e) => (e.kind === "file" ? { ...e, size: e.size % 100 } : e)),
  m.dirEntry,
  4,
);
const dirData = fc.record({
  t: fc.constant("dirData" as const),
  size: often(fc.constant("rest" as const), fc.integer({ min: 1, max: 80 }), 4),
  seed: fc.nat(),
});
const dirBegin = fc.record({
  t: fc.constant("dirBegin" as const),
  index: often(fc.constant("next" as const), fc.nat({ max: 17 })),
  root: m.meta,
});
const dirEnd = fc.record({
  t: fc.constant("dirEnd" as const),
  honest: often(fc.constant(true), fc.constant(false), 4),
});
/** An entry, and the data of a file (all of it when none is drawn). */
const dirItem = fc
  .tuple(
    withMutate(fc.record({ t: fc.constant("dirEntry" as const), entry })),
    fc.array(withMutate(dirData), { maxLength: 2 }),
  )
  .map(([e, data]) => ({
    entry: e,
    data:
      e.entry.kind === "file" && data.length === 0 ? [{ t: "dirData" as const, size: "rest" as const, seed: 1 }] : data,
  }));
type DirItem = typeof dirItem extends fc.Arbitrary<infer T> ? T : never;

const parts = (path: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at <= path.length; ) {
    const slash = path.indexOf(0x2f, at);
    const end = slash < 0 ? path.length : slash;
    out.push(path.subarray(at, end));
    at = end + 1;
  }
  return out;
};
const byWalkOrder = (a: DirItem, b: DirItem): number => {
  const pa = parts(a.entry.entry.path);
  const pb = parts(b.entry.entry.path);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = Buffer.compare(pa[i] as Buffer, pb[i] as Buffer);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
};

/**
 * Entries in the walk's order (parents first, names increasing), each path's
 * missing parents added as directories, duplicates dropped: a tree the target
 * takes, unless a parent is a file or a symlink (which it must refuse).
 */
function walkOrder(items: DirItem[]): Action[] {
  const byPath = new Map<string, DirItem>();
  for (const item of items) {
    const path = item.entry.entry.path;
    const p = parts(path);
    for (let depth = 1; depth < p.length; depth++) {
      const parent = Buffer.concat(p.slice(0, depth).flatMap((c, i) => (i === 0 ? [c] : [Buffer.from("/"), c])));
      if (byPath.has(parent.toString("latin1"))) continue;
      const dir = { ...item.entry.entry, kind: "dir" as const, path: parent, size: 0, link: Buffer.alloc(0) };
      byPath.set(parent.toString("latin1"), { entry: { t: "dirEntry", entry: dir, mutate: undefined }, data: [] });
    }
    if (!byPath.has(path.toString("latin1"))) byPath.set(path.toString("latin1"), item);
  }
  return [...byPath.values()].sort(byWalkOrder).flatMap((i): Action[] => [i.entry, ...i.data]);
}

/** One directory: DIR_BEGIN, entries and data (usually in the walk's order), DIR_END (usually honest), so that trees get placed. */
const tree: fc.Arbitrary<Action[]> = fc
  .tuple(
    withMutate(dirBegin),
    fc.array(dirItem, { maxLength: 6 }),
    often(fc.constant(true), fc.constant(false)),
    withMutate(dirEnd),
  )
  .map(([begin, items, ordered, close]) => [
    begin,
    ...(ordered ? walkOrder(items) : items.flatMap((i) => [i.entry, ...i.data])),
    close,
  ]);
const anyDirAction: fc.Arbitrary<Action> = withMutate(
  fc.oneof(dirBegin, dirData, dirEnd, fc.record({ t: fc.constant("dirEntry" as const), entry })),
);

const raw: fc.Arbitrary<Action> = fc.record({
  t: fc.constant("raw" as const),
  // Not ERROR (9): the target would rightly report the code it names.
  type: fc.nat({ max: 24 }).filter((t) => t !== 9),
  body: fc.uint8Array({ maxLength: 48 }),
});

/**
 * START, a copy, END, then directories: each part may be missing, and any
 * action may land anywhere else now and then, so every order is tried.
 */
export const script = (mode: Mode): fc.Arbitrary<Action[]> =>
  fc
    .tuple(
      fc.option(
        // From the resume block the target offers when it offers one, else (usually) from 0.
        (mode.resume ? often(fc.constant("resume" as const), fc.constant(0), 3) : fc.constant(0))
          .chain((usual) => often(fc.constant(usual), fc.maxSafeNat(), 40))
          .map((fromBlock): Action => ({ t: "start", fromBlock })),
        { nil: undefined, freq: 40 },
      ),
      fc.array(often(copyAction(mode), fc.oneof(anyDirAction, raw), 40), { maxLength: 6 }),
      // Most copies are carried to the end (cover), so that END and the directories are reached.
      fc.option(fc.record({ end, cover: often(fc.constant(true), fc.constant(false), 4) }), {
        nil: undefined,
        freq: 8,
      }),
      // A tree for each directory named, usually.
      often(
        fc.array(tree, { minLength: mode.dirs, maxLength: mode.dirs }),
        fc.array(
          often(
            tree,
            fc.oneof(anyDirAction, copyAction(mode), raw).map((a) => [a]),
          ),
          { maxLength: 3 },
        ),
      ),
    )
    .map(([start, copy, finish, dirs]) => [
      ...(start ? [start] : []),
      ...copy,
      ...(finish?.cover ? [{ t: "cover", fill: "runs", seed: copy.length } as const] : []),
      ...(finish ? [finish.end] : []),
      ...dirs.flat(),
    ]);
