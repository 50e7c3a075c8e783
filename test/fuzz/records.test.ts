/**
 * The records of --insecure-plaintext (src/transport/records.ts) under
 * fuzzing. A valid stream, cut into any chunks, always passes, unchanged and
 * ended. A stream changed in any way (bits flipped, bytes set, inserted,
 * deleted, lengths overwritten, cut short) is always refused: E_AUTH, or
 * E_NETWORK when it stops without its end record; and what was passed on
 * before the refusal is a prefix of what was sent, never a changed byte.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { memoryPair } from "../../src/transport/memory.js";
import { MAX_RECORD, RecordOpener, RecordSealer, RecordStream } from "../../src/transport/records.js";
import { sessionKeys } from "../../src/transport/secret.js";
import { seededBytes } from "../helpers/random.js";
import { budget, check, chunks, expectRefusal, printSummary, runs, within } from "./fuzz.js";
import { mutate, mutations } from "./mutate.js";

afterAll(printSummary);

const keys = sessionKeys(Buffer.from("fuzzing secret, 16+ bytes"), randomBytes(32), randomBytes(32));

/** Writes: each a list of parts sealed together (one _writev), mostly small, now and then past 1 MiB. */
const part = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_RECORD - 2, max: MAX_RECORD + 3 }) },
);
const writes = fc
  .array(fc.array(fc.tuple(part, fc.nat()), { minLength: 1, maxLength: 4 }), { maxLength: 5 })
  .map((ws) => ws.map((w) => w.map(([n, seed]) => seededBytes(n, seed))));

function sealed(ws: Buffer[][]): { bytes: Buffer; data: Buffer } {
  const sealer = new RecordSealer(keys.toReceiver);
  const out = ws.flatMap((w) => sealer.seal(w));
  return { bytes: Buffer.concat([...out, ...sealer.end()]), data: Buffer.concat(ws.flat()) };
}

/** Feeds `parts` to an opener: what it passed on, and whether it ended or threw. */
function open(parts: Buffer[]) {
  const opener = new RecordOpener(keys.toReceiver);
  const passed: Buffer[] = [];
  try {
    for (const p of parts) passed.push(...opener.feed(p));
  } catch (e) {
    return { passed: Buffer.concat(passed), error: e, ended: false };
  }
  return { passed: Buffer.concat(passed), error: undefined, ended: opener.ended };
}

/** The same through a RecordStream on an in-memory link; the link ends after the bytes. */
async function receive(parts: Buffer[]): Promise<{ passed: Buffer; error: unknown }> {
  const link = memoryPair();
  link.a.on("error", () => {}); // reset when the stream below gives up: the outcome is read from the stream
  const stream: Duplex = new RecordStream(link.b, { send: keys.toSource, receive: keys.toReceiver });
  const read = (async () => {
    const got: Buffer[] = [];
    try {
      for await (const c of stream) got.push(c as Buffer);
      return { passed: Buffer.concat(got), error: undefined };
    } catch (e) {
      return { passed: Buffer.concat(got), error: e };
    }
  })();
  for (const p of parts) link.a.write(p);
  link.a.end();
  const r = await read;
  stream.destroy();
  link.a.destroy();
  return r;
}

describe("records under fuzzing", () => {
  it(
    "pass any valid stream, cut anywhere, unchanged and ended",
    async () => {
      const property = fc.property(writes, fc.array(fc.nat(), { maxLength: 12 }), (ws, cuts) => {
        const { bytes, data } = sealed(ws);
        const r = open(chunks(bytes, cuts));
        expect(r.error).toBeUndefined();
        expect(r.ended).toBe(true);
        expect(r.passed.equals(data)).toBe(true);
      });
      await check("records: valid streams", property, runs(500));
    },
    budget(20_000),
  );

  it(
    "refuse every change, and pass on only a prefix of what was sent",
    async () => {
      const small = fc
        .array(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 3 }), { maxLength: 5 })
        .chain((ws) => fc.constant(ws.map((w, i) => w.map((n, j) => seededBytes(n, 31 * i + j)))));
      const property = fc.property(small, mutations(4), fc.array(fc.nat(), { maxLength: 6 }), (ws, list, cuts) => {
        const { bytes, data } = sealed(ws);
        const changed = mutate(bytes, list);
        const r = open(chunks(changed, cuts));
        expect(data.subarray(0, r.passed.length).equals(r.passed)).toBe(true);
        if (changed.equals(bytes)) {
          expect(r.ended).toBe(true);
          return;
        }
        // Refused: a failed check, or (the stream cut short) no end record yet.
        if (r.error !== undefined) expectRefusal(r.error, ["E_AUTH"]);
        else expect(r.ended).toBe(false);
      });
      await check("records: changed streams", property, runs(20_000));
    },
    budget(20_000),
  );

  it(
    "through a record stream: a changed stream ends in E_AUTH or E_NETWORK, never in a clean end",
    async () => {
      const property = fc.asyncProperty(
        writes,
        mutations(3),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (ws, list, cuts) => {
          const { bytes, data } = sealed(ws);
          const changed = mutate(bytes, list);
          const r = await within(5000, "record stream", receive(chunks(changed, cuts)));
          expect(data.subarray(0, r.passed.length).equals(r.passed)).toBe(true);
          if (changed.equals(bytes)) {
            expect(r.error).toBeUndefined();
            expect(r.passed.length).toBe(data.length);
          } else {
            expectRefusal(r.error, ["E_AUTH", "E_NETWORK"]);
          }
        },
      );
      await check("records: record stream", property, runs(300));
    },
    budget(20_000),
  );
});
