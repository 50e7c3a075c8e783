/**
 * `thin_delta`'s XML (thin-provisioning-tools 0.9.0, and the same elements
 * from the 1.x rewrite), parsed strictly, and its pool chunks mapped to the
 * blocks of a sync:
 *
 *   <superblock uuid="" time="2" transaction="3" data_block_size="128" nr_data_blocks="0">
 *     <diff left="2" right="3">
 *       <same begin="0" length="64"/>
 *       <different begin="64" length="16"/>
 *       <left_only begin="200" length="1"/>
 *       <right_only begin="3000" length="1"/>
 *     </diff>
 *   </superblock>
 *
 * `begin` and `length` count pool chunks of `data_block_size` 512-byte
 * sectors. `different` and `right_only`: mapped in the new snapshot, other
 * data than the old one's; `left_only`: no longer mapped, reads as zeros;
 * chunks unmapped on both sides are left out. Anything else (another element,
 * an attribute we do not know, runs out of order or overlapping, text) is
 * refused: a diff misread would silently leave changed blocks unsent.
 */
import { BlockferryError } from "../errors.js";
import { describe } from "../validate.js";

export type ChunkRunKind = "same" | "different" | "left_only" | "right_only";

export interface ChunkRun {
  kind: ChunkRunKind;
  /** First pool chunk. */
  begin: number;
  /** Chunks. */
  length: number;
}

export interface ThinDelta {
  /** Pool chunk size in bytes (data_block_size × 512). */
  chunkBytes: number;
  runs: ChunkRun[];
}

/** Blocks of the new snapshot to read and send ("read"), or known to read as zeros now ("zero"). */
export interface BlockRange {
  kind: "read" | "zero";
  first: number;
  count: number;
}

const RUN_KINDS: readonly string[] = ["same", "different", "left_only", "right_only"];
const SUPERBLOCK_ATTRS = ["uuid", "time", "transaction", "data_block_size", "nr_data_blocks", "flags", "version"];
const TAG = /<(\/?)([a-z_]+)((?:\s+[a-z_]+="[^"<>&]*")*)\s*(\/?)>/y;
const ATTR = /([a-z_]+)="([^"]*)"/g;

function bad(what: string): BlockferryError {
  return new BlockferryError("E_SNAPSHOT", `thin_delta: unexpected output: ${what}`);
}

interface Tag {
  name: string;
  closing: boolean;
  empty: boolean;
  attrs: Map<string, string>;
}

/** The tags of `xml`, in order; only whitespace may stand between them. */
function* tags(xml: string): Generator<Tag> {
  let at = 0;
  while (true) {
    const space = /\s*/y;
    space.lastIndex = at;
    space.exec(xml);
    at = space.lastIndex;
    if (at >= xml.length) return;
    TAG.lastIndex = at;
    const m = TAG.exec(xml);
    if (m === null) throw bad(`expected a tag at character ${at}, got ${describe(xml.slice(at, at + 40))}`);
    at = TAG.lastIndex;
    const attrs = new Map<string, string>();
    for (const [, k, v] of (m[3] ?? "").matchAll(ATTR)) {
      if (attrs.has(k as string)) throw bad(`attribute ${k} twice in <${m[2]}>`);
      attrs.set(k as string, v as string);
    }
    yield { name: m[2] as string, closing: m[1] === "/", empty: m[4] === "/", attrs };
  }
}

function count(tag: Tag, name: string, min: number): number {
  const text = tag.attrs.get(name);
  const n = text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min)) throw bad(`<${tag.name}> ${name}: expected a whole number >= ${min}, got ${describe(text ?? "")}`);
  return n;
}

function onlyAttrs(tag: Tag, allowed: readonly string[]): void {
  for (const k of tag.attrs.keys()) if (!allowed.includes(k)) throw bad(`<${tag.name}> has an unknown attribute ${k}`);
}

/** The diff between thin devices `left` and `right`, as `thin_delta --snap1 left --snap2 right` printed it. */
export function parseThinDelta(xml: string, left: number, right: number): ThinDelta {
  const all = [...tags(xml)];
  const [sb, diff] = all;
  const [diffEnd, sbEnd] = all.slice(-2);
  if (sb?.name !== "superblock" || sb.closing || sb.empty) throw bad("expected <superblock> first");
  onlyAttrs(sb, SUPERBLOCK_ATTRS);
  const sectors = count(sb, "data_block_size", 1);
  if (diff?.name !== "diff" || diff.closing || diff.empty) throw bad("expected <diff> inside <superblock>");
  onlyAttrs(diff, ["left", "right"]);
  if (count(diff, "left", 0) !== left || count(diff, "right", 0) !== right) {
    throw bad(
      `expected the diff of ${left} and ${right}, got ${diff.attrs.get("left")} and ${diff.attrs.get("right")}`,
    );
  }
  if (
    all.length < 4 ||
    !diffEnd?.closing ||
    diffEnd.name !== "diff" ||
    !sbEnd?.closing ||
    sbEnd.name !== "superblock"
  ) {
    throw bad("expected </diff></superblock> at the end");
  }
  const runs: ChunkRun[] = [];
  let next = 0;
  for (const tag of all.slice(2, -2)) {
    if (!RUN_KINDS.includes(tag.name) || tag.closing || !tag.empty)
      throw bad(`unknown element <${tag.name}> in <diff>`);
    onlyAttrs(tag, ["begin", "length"]);
    const run = { kind: tag.name as ChunkRunKind, begin: count(tag, "begin", 0), length: count(tag, "length", 1) };
    if (run.begin < next) throw bad(`<${tag.name} begin="${run.begin}"> overlaps or precedes chunk ${next}`);
    next = run.begin + run.length;
    runs.push(run);
  }
  return { chunkBytes: sectors * 512, runs };
}

/**
 * The blocks a sync must handle after `delta`, clipped at the volume's end, in
 * order. A block touched by a `different` or `right_only` chunk is read; one
 * that only lost its mappings (`left_only`, or chunks unmapped on both sides)
 * reads as zeros and is not read; one that holds both lost and kept chunks is
 * read. Every other block is as the old snapshot held it.
 */
export function changedBlocks(delta: ThinDelta, volumeSize: number, blockSize: number): BlockRange[] {
  const reads: Array<[number, number]> = [];
  const zeros: Array<[number, number]> = [];
  /** First and last block of each `same` run: the only blocks of one a `left_only` run may share. */
  const kept = new Set<number>();
  for (const run of delta.runs) {
    const start = run.begin * delta.chunkBytes;
    const end = Math.min((run.begin + run.length) * delta.chunkBytes, volumeSize);
    if (start >= end) continue;
    const first = Math.floor(start / blockSize);
    const last = Math.ceil(end / blockSize) - 1;
    if (run.kind === "same") {
      kept.add(first).add(last);
    } else if (run.kind === "left_only") {
      zeros.push([first, last]);
    } else {
      reads.push([first, last]);
    }
  }
  for (const [first, last] of zeros) {
    // Inside a left_only run every block is wholly its own; only its ends can hold kept data.
    if (kept.has(first)) reads.push([first, first]);
    if (kept.has(last)) reads.push([last, last]);
  }
  const read = merge(reads);
  const zero = subtract(merge(zeros), read);
  return [
    ...read.map(([f, l]) => ({ kind: "read" as const, first: f, count: l - f + 1 })),
    ...zero.map(([f, l]) => ({ kind: "zero" as const, first: f, count: l - f + 1 })),
  ].sort((a, b) => a.first - b.first);
}

/** Inclusive intervals sorted and merged where they overlap or touch. */
function merge(list: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [f, l] of [...list].sort((a, b) => a[0] - b[0])) {
    const prev = out.at(-1);
    if (prev !== undefined && f <= prev[1] + 1) prev[1] = Math.max(prev[1], l);
    else out.push([f, l]);
  }
  return out;
}

/** `from` less `minus` (both merged), in one pass over each. */
function subtract(from: Array<[number, number]>, minus: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let j = 0;
  for (const [f, l] of from) {
    let at = f;
    while (j < minus.length && (minus[j] as [number, number])[1] < at) j++;
    for (let k = j; k < minus.length && (minus[k] as [number, number])[0] <= l; k++) {
      const [mf, ml] = minus[k] as [number, number];
      if (mf > at) out.push([at, mf - 1]);
      at = Math.max(at, ml + 1);
    }
    if (at <= l) out.push([at, l]);
  }
  return out;
}
