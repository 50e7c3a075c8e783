/**
 * The frame reader against arbitrary byte streams, cut into arbitrary chunks.
 * A reference parser (a few lines over the whole input) says what must come
 * out: the frames, then a clean end, E_NETWORK (the stream stopped inside a
 * frame) or E_PROTOCOL (an unknown type or a length over its type's cap).
 * A stream that turns bad is not ended: the reader must refuse on the header
 * alone, without waiting for (or buffering) the body it declares.
 */
import { Duplex } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { FrameChannel } from "../../src/protocol/frames.js";
import { MAX_BODY, MessageType } from "../../src/protocol/messages.js";
import { seededBytes } from "../helpers/random.js";
import { budget, check, expectRefusal, printSummary, runs, within } from "./fuzz.js";
import * as m from "./messages.js";
import { mutate, mutations } from "./mutate.js";

afterAll(printSummary);

interface Parsed {
  frames: Array<{ type: number; body: Buffer }>;
  end: "clean" | "E_NETWORK" | "E_PROTOCOL";
}

const types = new Set<number>(Object.values(MessageType));

/** What the stream holds, by the transcript in messages.ts: u32 length of type and body, u8 type, body. */
function parse(bytes: Buffer): Parsed {
  const frames: Parsed["frames"] = [];
  let at = 0;
  for (;;) {
    if (at === bytes.length) return { frames, end: "clean" };
    if (bytes.length - at < 5) return { frames, end: "E_NETWORK" };
    const length = bytes.readUInt32BE(at);
    const type = bytes.readUInt8(at + 4);
    if (!types.has(type) || length < 1 || length - 1 > MAX_BODY[type as MessageType])
      return { frames, end: "E_PROTOCOL" };
    if (bytes.length - at - 5 < length - 1) return { frames, end: "E_NETWORK" };
    if (type !== MessageType.ping) frames.push({ type, body: bytes.subarray(at + 5, at + 4 + length) });
    at += 4 + length;
  }
}

function framed(frames: Array<{ type: number; body: Buffer }>): Buffer {
  return Buffer.concat(
    frames.flatMap(({ type, body }) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length + 1, 0);
      head.writeUInt8(type, 4);
      return [head, body];
    }),
  );
}

/** `bytes` cut at `cuts` (taken modulo its length). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length)).filter((c) => c.length > 0);
}

/** Feeds the chunks to a FrameChannel; ends the stream only if asked. Returns the frames and how it stopped. */
async function receiveAll(parts: Buffer[], endStream: boolean) {
  const stream = new Duplex({ read() {}, write: (_c, _e, callback) => callback() });
  for (const part of parts) stream.push(part);
  if (endStream) stream.push(null);
  const channel = new FrameChannel(stream);
  const frames: Parsed["frames"] = [];
  try {
    for (;;) {
      const frame = await channel.receive();
      if (frame === undefined) return { frames, error: undefined };
      // A body is valid until the next receive; a large data message comes as its chunks.
      frames.push({ type: frame.type, body: Buffer.concat(frame.parts ?? [Buffer.from(frame.body)]) });
    }
  } catch (e) {
    return { frames, error: e };
  } finally {
    channel.destroy();
  }
}

/** A frame over 64 KiB: the reader assembles those in one reused buffer. */
const bigFrame = fc
  .integer({ min: 64 * 1024 + 1, max: 300_000 })
  .map((n) => ({ type: MessageType.blocks as number, body: seededBytes(n, n) }));
/** A header with any type and length, and a few body bytes. */
const anyHeader = fc
  .record({ length: fc.nat({ max: 0xffffffff }), type: fc.nat({ max: 255 }), body: fc.uint8Array({ maxLength: 16 }) })
  .map(({ length, type, body }) => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(length, 0);
    head.writeUInt8(type, 4);
    return Buffer.concat([head, body]);
  });

const validStream = fc
  .array(fc.oneof({ weight: 30, arbitrary: m.frame }, { weight: 1, arbitrary: bigFrame }), { maxLength: 6 })
  .map(framed);
const stream = fc.oneof(
  { weight: 2, arbitrary: validStream },
  { weight: 5, arbitrary: fc.tuple(validStream, mutations(4)).map(([b, list]) => mutate(b, list)) },
  { weight: 1, arbitrary: fc.tuple(validStream, anyHeader, validStream).map((parts) => Buffer.concat(parts)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
);

describe("the frame reader under fuzzing", () => {
  it(
    "yields exactly the frames of any byte stream, then a clean end, E_NETWORK or E_PROTOCOL",
    async () => {
      const property = fc.asyncProperty(stream, fc.array(fc.nat(), { maxLength: 8 }), async (bytes, cuts) => {
        const expected = parse(bytes);
        const got = await within(2000, "receive", receiveAll(chunks(bytes, cuts), expected.end !== "E_PROTOCOL"));
        expect(got.frames.length).toBe(expected.frames.length);
        got.frames.forEach((f, i) => {
          expect(f.type).toBe(expected.frames[i]?.type);
          expect(f.body.equals(expected.frames[i]?.body ?? Buffer.alloc(0))).toBe(true);
        });
        if (expected.end === "clean") expect(got.error).toBeUndefined();
        else expectRefusal(got.error, [expected.end]);
      });
      await check("frame reader", property, runs(20_000));
    },
    budget(15_000),
  );

  it(
    "refuses a declared length over the cap on the header alone, for every type",
    async () => {
      const property = fc.asyncProperty(
        fc.constantFrom(...types),
        fc.integer({ min: 1, max: 0xffffffff }),
        async (type, over) => {
          const head = Buffer.alloc(5);
          const length = Math.min(0xffffffff, MAX_BODY[type as MessageType] + 1 + over);
          head.writeUInt32BE(length, 0);
          head.writeUInt8(type, 4);
          // Nothing follows and the stream stays open: waiting for the body would hang.
          const got = await within(2000, "receive", receiveAll([head], false));
          expectRefusal(got.error, ["E_PROTOCOL"]);
          expect(got.error.message).toMatch(/declares/);
        },
      );
      await check("frame length caps", property, runs(5000));
    },
    budget(5000),
  );
});
