/**
 * What a target faces before the hostile source's first byte: a small volume
 * (up to 12 blocks), an image that is empty (a fresh copy) or holds data (a
 * comparison), maybe the record of an earlier sync (complete: the source may
 * offer its digest cache of it; interrupted: the target offers to resume),
 * flags, directories, and now and then a HELLO that is broken.
 */
import fc from "fast-check";
import { Fingerprint, foldBatch } from "../../src/engine/fingerprint.js";
import type { TargetState } from "../../src/engine/state.js";
import { digestBlocks } from "../../src/native/index.js";
import { type Hello, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { seededBytes } from "../helpers/random.js";
import { often } from "./fuzz.js";
import { mutations } from "./mutate.js";
import type { Mode } from "./source-script.js";

export const targetCase = fc
  .record({
    blockSize: fc.constantFrom(4096, 8192, 16384),
    blocks: fc.nat({ max: 12 }),
    short: fc.nat(),
    image: fc.option(fc.record({ blocks: fc.integer({ min: 1, max: 14 }), seed: fc.nat() }), { nil: undefined }),
    prior: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      {
        weight: 3,
        arbitrary: fc.record({
          complete: fc.boolean(),
          seed: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          generation: fc.integer({ min: 1, max: 5 }),
          /** Interrupted: blocks done, of the volume's. */
          done: fc.nat(),
          /** Complete: the cache offered is of this generation (else of another: refused). */
          cacheMatches: often(fc.constant(true), fc.constant(false), 3),
        }),
      },
    ),
    full: often(fc.constant(false), fc.constant(true), 2),
    verify: fc.boolean(),
    dryRun: often(fc.constant(false), fc.constant(true)),
    fine: fc.boolean(),
    dirs: fc.nat({ max: 2 }),
    version: often(fc.constant(PROTOCOL_VERSION), fc.nat({ max: 0xffff }), 30),
    helloMutate: often(fc.constant(undefined), mutations(2), 20),
  })
  .map((s) => {
    const sourceSize = Math.max(0, s.blocks * s.blockSize - (s.short % s.blockSize));
    // An earlier sync of this very volume left an image of its size.
    const prior = sourceSize > 0 ? s.prior : undefined;
    const image =
      prior !== undefined
        ? seededBytes(sourceSize, s.short)
        : s.image === undefined
          ? Buffer.alloc(0)
          : seededBytes(s.image.blocks * s.blockSize - 100, s.image.seed);
    return { ...s, sourceSize, prior, image };
  });
export type TargetCase = typeof targetCase extends fc.Arbitrary<infer T> ? T : never;

/** The mode the target will take, as far as the case tells: the script is drawn for it, so that it gets far. */
export function modeOf(c: TargetCase): Mode {
  const resume = c.prior !== undefined && !c.prior.complete && !c.full && !c.dryRun;
  const cached = c.prior?.complete === true && c.prior.cacheMatches && !c.full;
  const compare = c.image.length > 0 && !c.full && !resume && !cached;
  return {
    compare: compare || cached,
    resume,
    // Comparing and cached runs both offer short runs of changed blocks piece by piece.
    fine: (compare || cached) && c.fine && c.blockSize > 4096 && !c.dryRun,
    dry: c.dryRun,
    dirs: c.dirs,
  };
}

/** The fingerprint of `data`'s first `blocks` blocks, as a target records it. */
export async function fingerprintOf(data: Buffer, blockSize: number, seed: bigint, blocks: number): Promise<Buffer> {
  const sum = new Fingerprint();
  const part = data.subarray(0, blocks * blockSize);
  if (part.length > 0) {
    const { digests } = await digestBlocks(part, blockSize, seed);
    sum.add(await foldBatch(digests, blocks, 0, seed));
  }
  return sum.toBuffer();
}

/** The record the earlier sync left, true to the image: a complete copy, or one interrupted part way. */
export async function priorState(c: TargetCase): Promise<TargetState | undefined> {
  const p = c.prior;
  if (p === undefined) return undefined;
  const blockCount = Math.ceil(c.sourceSize / c.blockSize);
  const done = p.complete ? blockCount : 1 + (p.done % blockCount);
  const at = new Date().toISOString();
  return {
    version: 1,
    complete: p.complete,
    verified: p.complete,
    mode: "copy",
    sourceId: "hostile",
    targetId: "t",
    sourceSize: c.sourceSize,
    blockSize: c.blockSize,
    seed: p.seed.toString(),
    blocksDone: done,
    fingerprint: (await fingerprintOf(c.image, c.blockSize, p.seed, done)).toString("hex"),
    generation: p.complete ? p.generation : 0,
    stamp: "t",
    startedAt: at,
    updatedAt: at,
  };
}

/** The HELLO the source sends (before any mutation); with a complete record, its digest cache of it. */
export function helloOf(c: TargetCase, dirs: string[], prior: TargetState | undefined): Hello {
  const offer = prior?.complete === true;
  return {
    version: c.version,
    targetName: "t",
    sourceSize: c.sourceSize,
    blockSize: c.blockSize,
    flags: { compress: true, full: c.full, verify: c.verify, dryRun: c.dryRun },
    sourceId: "hostile",
    cacheGeneration: offer ? prior.generation + (c.prior?.cacheMatches ? 0 : 1) : 0,
    cacheFingerprint: offer ? Buffer.from(prior.fingerprint, "hex") : Buffer.alloc(16),
    fineSize: c.fine && c.blockSize > 4096 ? 4096 : 0,
    dirs,
  };
}
