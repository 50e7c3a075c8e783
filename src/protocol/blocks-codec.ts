/**
 * BLOCKS and FINE_BLOCKS: a first block, then per unit (a block, or a
 * two-level piece) its kind (raw, lz4, zero) and size, then the payload. A
 * body that arrived in chunks (frames.ts) keeps its payload in them.
 */
import { BlockKind } from "../native/index.js";
import { BodyReader, protocolError } from "./body.js";
import { type Blocks, blocksHeaderBytes, MAX_BLOCKS_BYTES, MAX_BLOCKS_PER_MESSAGE } from "./messages.js";

/** The codec of BLOCKS or FINE_BLOCKS (`name` says which, in errors). */
export function blocksCodec(name: string) {
  /** The header, checked: `unit` is the block size (BLOCKS) or the piece size (FINE_BLOCKS). */
  const readHeader = (r: BodyReader, unit: number) => {
    const firstBlock = r.u64();
    const count = r.u32();
    if (count === 0 || count > MAX_BLOCKS_PER_MESSAGE || (count > 1 && count * unit > MAX_BLOCKS_BYTES)) {
      throw protocolError(`${name}: ${count} units of ${unit} bytes in one message`);
    }
    const kinds = new Uint8Array(r.bytes(count));
    const sizes = new Uint32Array(count);
    let total = 0;
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      if (!sizeFits(kinds[i], size, unit)) {
        throw protocolError(`${name}: unit ${i} from block ${firstBlock} has kind ${kinds[i]} and size ${size}`);
      }
      sizes[i] = size;
      total += size;
    }
    return { firstBlock, kinds, sizes, total };
  };
  const checkTotal = (total: number, payload: number) => {
    if (total !== payload) throw protocolError(`${name}: sizes add up to ${total}, payload has ${payload}`);
  };
  return {
    encode(m: Blocks): Buffer[] {
      const count = m.kinds.length;
      const header = Buffer.allocUnsafe(blocksHeaderBytes(count));
      header.writeBigUInt64BE(BigInt(m.firstBlock), 0);
      header.writeUInt32BE(count, 8);
      header.set(m.kinds, 12);
      for (let i = 0; i < count; i++) header.writeUInt32BE(m.sizes[i] ?? 0, 12 + count + 4 * i);
      return [header, ...m.payload];
    },
    /** A body in chunks (frames.ts) keeps its payload in them; only the header is gathered. */
    decode(body: Buffer | Buffer[], unit: number): Blocks {
      if (!Array.isArray(body)) {
        const r = new BodyReader(body, name);
        const { total, ...h } = readHeader(r, unit);
        checkTotal(total, r.remaining());
        return { ...h, payload: [r.bytes(total)] };
      }
      const head = gather(body, 12);
      const count = head.length === 12 ? head.readUInt32BE(8) : 0;
      // A count past the cap is refused by readHeader before its header is gathered.
      const r = new BodyReader(gather(body, blocksHeaderBytes(Math.min(count, MAX_BLOCKS_PER_MESSAGE + 1))), name);
      const { total, ...h } = readHeader(r, unit);
      const payload = after(body, blocksHeaderBytes(h.kinds.length));
      checkTotal(
        total,
        payload.reduce((n, p) => n + p.length, 0),
      );
      return { ...h, payload };
    },
  };
}

/** The first `n` bytes of `parts` in one buffer (fewer if they hold fewer). */
export function gather(parts: Buffer[], n: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, left = n; i < parts.length && left > 0; i++) {
    const p = parts[i] as Buffer;
    out.push(p.subarray(0, left));
    left -= Math.min(p.length, left);
  }
  return Buffer.concat(out);
}

/** `parts` without their first `n` bytes (no copy). */
export function after(parts: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = n;
  for (const p of parts) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    out.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return out;
}

/** A zero unit has no bytes; a raw or lz4 one has 1 to `unit` of them; other kinds do not exist. */
export function sizeFits(kind: number | undefined, size: number, unit: number): boolean {
  if (kind === BlockKind.zero) return size === 0;
  if (kind === BlockKind.raw || kind === BlockKind.lz4) return size > 0 && size <= unit;
  return false;
}
