/**
 * BLOCKS bodies as a source builds them: each block lz4-compressed by our own
 * compressor where that saves enough, raw elsewhere, and the zero kind for
 * all-zero blocks. The fuzzers mutate these, and the hostile source sends them.
 */
import { BlockKind, compressBlocks } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";

const ZERO = Buffer.alloc(1 << 20);

function isZero(b: Buffer): boolean {
  for (let at = 0; at < b.length; at += ZERO.length) {
    const part = b.subarray(at, at + ZERO.length);
    if (!part.equals(ZERO.subarray(0, part.length))) return false;
  }
  return true;
}

/** The body of a BLOCKS (or FINE_BLOCKS) message carrying `data` in blocks of `blockSize`, the first numbered `firstBlock`. */
export async function encodeBlocks(data: Buffer, blockSize: number, firstBlock = 0): Promise<Buffer> {
  const { payload, sizes } = await compressBlocks(data, blockSize);
  const count = Math.ceil(data.length / blockSize);
  const kinds = new Uint8Array(count);
  const sent = new Uint32Array(count);
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const block = data.subarray(i * blockSize, (i + 1) * blockSize);
    const size = sizes[i] ?? 0;
    if (isZero(block)) {
      kinds[i] = BlockKind.zero;
    } else if (size > 0) {
      kinds[i] = BlockKind.lz4;
      sent[i] = size;
      parts.push(payload.subarray(at, at + size));
    } else {
      kinds[i] = BlockKind.raw;
      sent[i] = block.length;
      parts.push(block);
    }
    at += size;
  }
  return Buffer.concat(codecs.blocks.encode({ firstBlock, kinds, sizes: sent, payload: parts }));
}
