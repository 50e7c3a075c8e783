/**
 * Every message decoder against random bodies, mutated valid encodings and
 * valid encodings. A decoder either returns a value that survives another
 * encode and decode unchanged, or throws a BlockferryError with a protocol
 * code: never a RangeError from a Buffer read, never a value it cannot encode.
 */
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { exitCodeFor } from "../../src/cli/exit-codes.js";
import type { ErrorCode } from "../../src/errors.js";
import { codecs } from "../../src/protocol/codecs.js";
import { dirCodecs } from "../../src/protocol/dir-messages.js";
import type { ErrorMessage } from "../../src/protocol/messages.js";
import { budget, check, expectRefusal, outcome, printSummary, runs } from "./fuzz.js";
import * as m from "./messages.js";
import { mutated } from "./mutate.js";

afterAll(printSummary);

interface CodecCase<T, C> {
  name: string;
  /** A second argument of decode (BLOCKS: the block size). */
  context: fc.Arbitrary<C>;
  valid: (ctx: C) => fc.Arbitrary<T>;
  encode: (v: T) => Buffer[];
  decode: (body: Buffer, ctx: C) => T;
  /** What decoding the encoding of `v` gives, when the encoder is lossy (ERROR cuts its message). */
  normalize?: (v: T) => T;
  codes?: readonly ErrorCode[];
}

const none = fc.constant(undefined);
const cat = (parts: Buffer[]) => Buffer.concat(parts);

/** Whether a decoded value holds a string made lossy by bytes that are not UTF-8 (it may then outgrow its cap). */
function lossy(v: unknown): boolean {
  if (typeof v === "string") return v.includes("\uFFFD");
  if (Array.isArray(v)) return v.some(lossy);
  if (v !== null && typeof v === "object" && !ArrayBuffer.isView(v)) return Object.values(v).some(lossy);
  return false;
}

async function fuzzCodec<T, C>(c: CodecCase<T, C>, numRuns: number): Promise<void> {
  const codes = c.codes ?? ["E_PROTOCOL"];
  const input = c.context.chain((ctx) => {
    const valid = c.valid(ctx);
    return fc.oneof(
      { weight: 1, arbitrary: valid.map((value) => ({ ctx, body: cat(c.encode(value)), value })) },
      {
        weight: 4,
        arbitrary: mutated(valid.map((v) => cat(c.encode(v)))).map((body) => ({ ctx, body, value: undefined })),
      },
      {
        weight: 1,
        arbitrary: fc.uint8Array({ maxLength: 96 }).map((b) => ({ ctx, body: Buffer.from(b), value: undefined })),
      },
    );
  });
  const seen = { accepted: 0, refused: 0 };
  const property = fc.property(input, ({ ctx, body, value }) => {
    const r = outcome(codes, () => c.decode(body, ctx));
    if (value === undefined) {
      seen["value" in r ? "accepted" : "refused"]++;
    } else {
      // A valid encoding decodes to what was encoded, and encodes back to the same bytes.
      if (!("value" in r)) throw new Error(`a valid ${c.name} was refused: ${r.error.message}`);
      expect(isDeepStrictEqual(r.value, value)).toBe(true);
      expect(cat(c.encode(r.value)).equals(body)).toBe(true);
    }
    if (!("value" in r)) return;
    let again: Buffer;
    try {
      again = cat(c.encode(r.value));
    } catch (e) {
      // Only a lossy string, grown past its cap once made valid UTF-8, may not encode again.
      expectRefusal(e, ["E_INVALID_ARG"]);
      expect(lossy(r.value)).toBe(true);
      return;
    }
    const expected = c.normalize ? c.normalize(r.value) : r.value;
    expect(isDeepStrictEqual(c.decode(again, ctx), expected)).toBe(true);
  });
  await check(c.name, property, numRuns);
  // Broken inputs both accepted and refused: else they never got past the first check.
  expect(seen.accepted).toBeGreaterThan(0);
  expect(seen.refused).toBeGreaterThan(0);
}

/** A codec whose decode takes the body alone. */
const simple = <T>(valid: fc.Arbitrary<T>, codec: { encode: (v: T) => Buffer[]; decode: (b: Buffer) => T }) => ({
  context: none,
  valid: () => valid,
  encode: codec.encode,
  decode: (b: Buffer) => codec.decode(b),
});

/** A test case per codec: its name, and how to fuzz it for n cases. */
const fuzzes = <T, C>(name: string, c: Omit<CodecCase<T, C>, "name">) =>
  [name, (numRuns: number) => fuzzCodec({ name, ...c }, numRuns)] as const;

const cases = [
  fuzzes("HELLO", simple(m.hello, codecs.hello)),
  fuzzes("WELCOME", { ...simple(m.welcome, codecs.welcome), codes: ["E_PROTOCOL", "E_VERSION"] }),
  fuzzes("START", simple(fc.record({ fromBlock: fc.maxSafeNat() }, { noNullPrototype: true }), codecs.start)),
  fuzzes("BLOCKS", {
    context: m.blockSizes,
    valid: m.blocks,
    encode: codecs.blocks.encode,
    decode: (b: Buffer, blockSize: number) => codecs.blocks.decode(b, blockSize),
  }),
  fuzzes("BLOCK_RUNS", {
    context: m.blockSizes,
    valid: m.blockRuns,
    encode: codecs.blockRuns.encode,
    decode: (b: Buffer, blockSize: number) => codecs.blockRuns.decode(b, blockSize),
  }),
  fuzzes("ZERO_RUN", simple(m.run, codecs.zeroRun)),
  fuzzes("SAME_RUN", simple(m.run, codecs.sameRun)),
  fuzzes("DIGESTS", simple(m.digests, codecs.digests)),
  fuzzes("FINE_OFFER", simple(m.fineOffer, codecs.fineOffer)),
  fuzzes("FINE_NEED", simple(m.fineNeed, codecs.fineNeed)),
  fuzzes("ACK", simple(m.ack, codecs.ack)),
  fuzzes("END", simple(m.end, codecs.end)),
  fuzzes("DONE", simple(m.done, codecs.done)),
  fuzzes("ERROR", {
    ...simple(m.error, codecs.error),
    // The encoder keeps 256 UTF-16 units of the message (a surrogate pair cut in two becomes U+FFFD).
    normalize: (v: ErrorMessage) => ({ code: v.code, message: Buffer.from(v.message.slice(0, 256)).toString() }),
  }),
  fuzzes("DIR_BEGIN", simple(m.dirBegin, dirCodecs.begin)),
  fuzzes("DIR_ENTRY", simple(m.dirEntry, dirCodecs.entry)),
  fuzzes("DIR_DATA", simple(m.dirData, dirCodecs.data)),
  fuzzes("DIR_END", simple(m.dirEnd, dirCodecs.end)),
  fuzzes("DIR_DONE", simple(m.dirDone, dirCodecs.done)),
];

describe("message decoders under fuzzing", () => {
  const perCodec = runs(5000);
  for (const [name, fuzz] of cases) {
    it(
      `${name}: refuses malformed bodies with a protocol error, round-trips what it accepts`,
      () => fuzz(perCodec),
      budget(5000),
    );
  }
});

describe("ERROR codes from a peer", () => {
  // Found by this property: a made-up code ("E_BOGUS") once became this side's error code,
  // had no exit code, and the process exited 0 after a failed sync. Unknown codes now
  // decode as E_PROTOCOL, and every code decoded has a non-zero exit code.
  it(
    "decodes only codes this blockferry knows, each with its exit code",
    async () => {
      const known = fc.constantFrom("E_PROTOCOL", "E_IO", "E_AUTH", "E_NO_SPACE", "E_VERIFY", "E_NETWORK");
      const valid = fc
        .record({ code: known, message: fc.string({ maxLength: 40 }) })
        .map((v) => cat(codecs.error.encode(v as ErrorMessage)));
      const body = fc.oneof(
        mutated(valid),
        fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
      );
      const property = fc.property(body, (b) => {
        const r = outcome(["E_PROTOCOL"], () => codecs.error.decode(b));
        if ("value" in r) expect(exitCodeFor(r.value.code)).toBeGreaterThan(0);
      });
      await check("ERROR codes known", property, runs(5000));
    },
    budget(5000),
  );
});
