import { createCipheriv, randomInt } from "node:crypto";

/**
 * Seeded pseudo-random bytes (AES-128-CTR keystream: fast and reproducible).
 * Tests take their seed from BLOCKFERRY_TEST_SEED or draw one, and print it,
 * so a failure can be replayed.
 */
export function testSeed(name: string): number {
  const fromEnv = process.env.BLOCKFERRY_TEST_SEED;
  const seed = fromEnv === undefined ? randomInt(2 ** 31) : Number(fromEnv);
  console.log(`[${name}] seed=${seed} (replay with BLOCKFERRY_TEST_SEED=${seed})`);
  return seed;
}

export function seededBytes(length: number, seed: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

/** A small deterministic generator for choices (mulberry32). */
export function seededInts(seed: number): (below: number) => number {
  let a = seed >>> 0;
  return (below: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % below) >>> 0;
  };
}

/**
 * Bytes with a set lz4 compressibility: every 64-byte chunk is `literal` fresh
 * random bytes followed by a run copied from a small dictionary, which lz4
 * encodes in a few bytes. literal=26 gives about 2:1 at 64 KiB blocks.
 */
export function compressibleBytes(length: number, seed: number, literal = 26): Buffer {
  const out = seededBytes(length, seed);
  const dictionary = seededBytes(16 * 64, seed + 1);
  const pick = seededInts(seed);
  for (let i = literal; i < length; i += 64) {
    const from = pick(16) * 64;
    dictionary.copy(out, i, from, from + Math.min(64 - literal, length - i));
  }
  return out;
}
