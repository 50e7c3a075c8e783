/**
 * The records of --insecure-plaintext (src/transport/records.ts), one attack
 * at a time: each must be refused before a byte of it is passed on. The
 * fuzz suite (test/fuzz/records.test.ts) tries random ones.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { BlockferryError } from "../src/errors.js";
import { memoryPair } from "../src/transport/memory.js";
import { MAX_RECORD, RecordOpener, RecordSealer, RecordStream } from "../src/transport/records.js";
import { sessionKeys } from "../src/transport/secret.js";
import { seededBytes } from "./helpers/random.js";

const secret = Buffer.from("correct horse battery staple");
const keys = sessionKeys(secret, randomBytes(32), randomBytes(32));

/** The records `parts` are sent in, one write each, then the end record, as separate records. */
function records(parts: Buffer[], key = keys.toReceiver): Buffer[] {
  const sealer = new RecordSealer(key);
  return [...parts.map((p) => Buffer.concat(sealer.seal([p]))), Buffer.concat(sealer.end())];
}

/** What an opener passes on from `bytes`, and how it stops: "ended", "open" (more expected) or the error. */
function open(bytes: Buffer, key = keys.toReceiver) {
  const opener = new RecordOpener(key);
  const passed: Buffer[] = [];
  try {
    passed.push(...opener.feed(bytes));
  } catch (e) {
    return { passed: Buffer.concat(passed), end: e as BlockferryError };
  }
  return { passed: Buffer.concat(passed), end: opener.ended ? "ended" : "open" };
}

const parts = [seededBytes(1000, 1), seededBytes(70_000, 2), seededBytes(5, 3)];
const whole = Buffer.concat(parts);

describe("records", () => {
  it("pass a stream unchanged, cut into records of at most 1 MiB, then end", () => {
    const big = seededBytes(2 * MAX_RECORD + 17, 4);
    const sealer = new RecordSealer(keys.toReceiver);
    const sealed = [...sealer.seal([whole, big]), ...sealer.end()];
    const headers = sealed.filter((b) => b.length === 4).map((h) => h.readUInt32BE(0));
    expect(headers).toEqual([MAX_RECORD, MAX_RECORD, whole.length + big.length - 2 * MAX_RECORD, 0]);
    const r = open(Buffer.concat(sealed));
    expect(r.end).toBe("ended");
    expect(r.passed.equals(Buffer.concat([whole, big]))).toBe(true);
    // The parts themselves go out, not copies.
    expect(sealed.includes(whole)).toBe(true);
  });

  it("are tagged as the header says: ChaCha20-Poly1305, the record as associated data, its number as nonce", () => {
    const sealer = new RecordSealer(keys.toReceiver);
    sealer.seal([Buffer.from("record 0")]);
    const [header, ...rest] = sealer.seal([seededBytes(1000, 5), seededBytes(77, 6)]) as [Buffer, ...Buffer[]];
    const tag = rest.pop() as Buffer;
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(1, 8); // the second record
    const mac = createCipheriv("chacha20-poly1305", keys.toReceiver, nonce, { authTagLength: 16 });
    mac.setAAD(Buffer.concat([header, ...rest]), { plaintextLength: 0 });
    expect(mac.update(Buffer.alloc(0)).length + mac.final().length).toBe(0); // nothing encrypted
    expect(mac.getAuthTag().equals(tag)).toBe(true);
    expect(header.readUInt32BE(0)).toBe(1077);
  });

  it("refuse a changed byte, anywhere, and pass on nothing of its record", () => {
    const stream = Buffer.concat(records(parts));
    const first = records(parts)[0] as Buffer;
    for (const at of [0, 3, 4, 500, first.length - 1, first.length + 10, stream.length - 1]) {
      const changed = Buffer.from(stream);
      changed[at] = (changed[at] as number) ^ 1;
      const r = open(changed);
      expect(r.end, `byte ${at}`).toBeInstanceOf(BlockferryError);
      expect((r.end as BlockferryError).code).toBe("E_AUTH");
      expect(whole.subarray(0, r.passed.length).equals(r.passed)).toBe(true); // only records before it
      expect(r.passed.length).toBeLessThanOrEqual(at);
    }
  });

  it("refuse a record dropped, replayed, moved, or injected from another session", () => {
    const [a, b, c, end] = records(parts) as [Buffer, Buffer, Buffer, Buffer];
    const other = sessionKeys(secret, randomBytes(32), randomBytes(32));
    const foreign = records([Buffer.from("injected")], other.toReceiver)[0] as Buffer;
    for (const [name, stream] of [
      ["dropped", [a, c, end]],
      ["replayed", [a, a, b, c, end]],
      ["moved", [b, a, c, end]],
      ["injected", [a, foreign, b, c, end]],
      ["end replayed early", [a, end, b, c, end]],
    ] as const) {
      const r = open(Buffer.concat(stream));
      expect((r.end as BlockferryError).code, name).toBe("E_AUTH");
    }
  });

  it("refuse records sent back to their sender: each direction has its own key", () => {
    expect(keys.toReceiver.equals(keys.toSource)).toBe(false);
    const r = open(Buffer.concat(records(parts, keys.toReceiver)), keys.toSource);
    expect((r.end as BlockferryError).code).toBe("E_AUTH");
    expect(r.passed.length).toBe(0);
  });

  it("refuse bytes after the end, and a length over 1 MiB on its header alone", () => {
    const stream = Buffer.concat(records(parts));
    const after = open(Buffer.concat([stream, Buffer.from([0])]));
    expect((after.end as BlockferryError).message).toMatch(/after the peer's end record/);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(MAX_RECORD + 1, 0);
    const r = open(huge);
    expect((r.end as BlockferryError).message).toMatch(/declares 1048577 bytes/);
  });

  it("keys depend on both nonces and on the secret", () => {
    const r = randomBytes(32);
    const s = randomBytes(32);
    const k = sessionKeys(secret, r, s).toReceiver;
    expect(sessionKeys(secret, r, s).toReceiver.equals(k)).toBe(true);
    expect(sessionKeys(secret, randomBytes(32), s).toReceiver.equals(k)).toBe(false);
    expect(sessionKeys(secret, r, randomBytes(32)).toReceiver.equals(k)).toBe(false);
    expect(sessionKeys(Buffer.from("another secret of length"), r, s).toReceiver.equals(k)).toBe(false);
  });
});

/** Both ends of a record stream over an in-memory pair (`link`: the bytes underneath). */
function pair() {
  const link = memoryPair();
  const a = new RecordStream(link.a, { send: keys.toReceiver, receive: keys.toSource });
  const b = new RecordStream(link.b, { send: keys.toSource, receive: keys.toReceiver });
  a.on("error", () => {}); // a reset of the other end: seen by the test through b
  return { a, b, link };
}

async function readAll(s: Duplex): Promise<{ data: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of s) chunks.push(c as Buffer);
    return { data: Buffer.concat(chunks), error: undefined };
  } catch (e) {
    return { data: Buffer.concat(chunks), error: e };
  }
}

describe("a record stream", () => {
  it("carries both ways and ends cleanly once both sides have ended", async () => {
    const { a, b } = pair();
    const fromA = readAll(b);
    const fromB = readAll(a);
    for (const p of parts) a.write(p);
    a.end();
    b.write(whole);
    b.end();
    expect((await fromA).data.equals(whole)).toBe(true);
    expect((await fromB).data.equals(whole)).toBe(true);
  });

  it("says a stream that stops without the end record was cut (E_NETWORK), mid-record or between records", async () => {
    for (const cutAt of ["between", "inside"] as const) {
      const { a, b, link } = pair();
      const got = readAll(b);
      a.write(whole);
      await new Promise((resolve) => setImmediate(resolve));
      if (cutAt === "inside") link.a.write(Buffer.from([0, 0, 1, 0])); // a header, then nothing
      link.a.end(); // a FIN with no end record
      const r = await got;
      expect((r.error as BlockferryError).code).toBe("E_NETWORK");
      expect((r.error as BlockferryError).message).toMatch(
        cutAt === "inside" ? /in the middle of a record/ : /without the peer's end record/,
      );
      expect(r.data.equals(whole)).toBe(true); // what was checked before the cut
      a.destroy();
    }
  });
});
