/**
 * Mutations of valid encodings: the inputs a decoder is most likely to get
 * wrong are almost right (a flipped bit, a cut, a length field made huge),
 * which random bytes seldom are. Positions are drawn as numbers and taken
 * modulo the length, so one mutation list applies to any buffer.
 */
import fc from "fast-check";

export type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; value: number }
  | { op: "truncate"; at: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; count: number }
  /** A 32-bit field overwritten: lengths and counts made huge, zero or off by one. */
  | { op: "u32"; at: number; value: number }
  /** A 64-bit field overwritten (block numbers, sizes): past 2^53 or just past the end. */
  | { op: "u64"; at: number; value: bigint };

const at = fc.nat();
const interesting32 = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 65536, 65537, 16 * 1024 * 1024 + 1),
  fc.nat({ max: 0xffffffff }),
);
const interesting64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("flip" as const), at, bit: fc.nat({ max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("set" as const), at, value: fc.nat({ max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("delete" as const), at, count: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("u32" as const), at, value: interesting32 }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("u64" as const), at, value: interesting64 }) },
);

/** One to `max` mutations. */
export const mutations = (max = 3) => fc.array(mutation, { minLength: 1, maxLength: max });

/** `input` with `list` applied in order (a new buffer; `input` is not changed). */
export function mutate(input: Buffer, list: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of list) {
    const n = b.length;
    const i = n === 0 ? 0 : m.at % n;
    switch (m.op) {
      case "flip":
        if (n > 0) b[i] = (b[i] ?? 0) ^ (1 << m.bit);
        break;
      case "set":
        if (n > 0) b[i] = m.value;
        break;
      case "truncate":
        b = b.subarray(0, m.at % (n + 1));
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, m.at % (n + 1)), m.bytes, b.subarray(m.at % (n + 1))]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.count)]);
        break;
      case "u32":
        if (n >= 4) b.writeUInt32BE(m.value, m.at % (n - 3));
        break;
      case "u64":
        if (n >= 8) b.writeBigUInt64BE(m.value, m.at % (n - 7));
        break;
    }
  }
  return b;
}

/** Valid encodings from `valid`, mutated. */
export const mutated = (valid: fc.Arbitrary<Buffer>, max = 3): fc.Arbitrary<Buffer> =>
  fc.tuple(valid, mutations(max)).map(([b, list]) => mutate(b, list));
