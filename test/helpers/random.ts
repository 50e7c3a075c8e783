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

/** Bytes lz4 compresses about 2:1 or better: random picks among a few random 32-byte words. */
export function compressibleBytes(length: number, seed: number): Buffer {
  const words = seededBytes(16 * 32, seed);
  const pick = seededInts(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 32) {
    const w = pick(16) * 32;
    words.copy(out, i, w, w + Math.min(32, length - i));
  }
  return out;
}
