/**
 * BLOCK_RUNS: a run count, each run's first block (u64) and count (u32),
 * then a kind (u8) and a size (u32) per block of the runs, then the payload
 * (blocksCodec's layout for the runs' blocks one after another). Untrusted:
 * runs must be in order with at least one block between them, and the blocks
 * within the caps of one BLOCKS message.
 */
import { after, gather, sizeFits } from "./blocks-codec.js";
import { BodyReader, protocolError } from "./body.js";
import { type BlockRuns, blockRunsHeaderBytes, MAX_BLOCKS_BYTES, MAX_BLOCKS_PER_MESSAGE } from "./messages.js";

const NAME = "BLOCK_RUNS";

export const blockRunsCodec = {
  encode(m: BlockRuns): Buffer[] {
    const blocks = m.kinds.length;
    const header = Buffer.allocUnsafe(blockRunsHeaderBytes(m.runs.length, blocks));
    header.writeUInt32BE(m.runs.length, 0);
    let at = 4;
    for (const r of m.runs) {
      header.writeBigUInt64BE(BigInt(r.first), at);
      header.writeUInt32BE(r.count, at + 8);
      at += 12;
    }
    header.set(m.kinds, at);
    at += blocks;
    for (let i = 0; i < blocks; i++) header.writeUInt32BE(m.sizes[i] ?? 0, at + 4 * i);
    return [header, ...m.payload];
  },

  /** `unit`: the block size. A body in chunks (frames.ts) keeps its payload in them. */
  decode(body: Buffer | Buffer[], unit: number): BlockRuns {
    const parts = Array.isArray(body) ? body : [body];
    const head = gather(parts, 4);
    const runCount = head.length === 4 ? head.readUInt32BE(0) : 0;
    if (runCount === 0 || runCount > MAX_BLOCKS_PER_MESSAGE) throw protocolError(`${NAME}: ${runCount} runs`);
    const runs = readRuns(new BodyReader(gather(parts, 4 + 12 * runCount), NAME), runCount, unit);
    const blocks = runs.reduce((n, r) => n + r.count, 0);
    const headerBytes = blockRunsHeaderBytes(runCount, blocks);
    const r = new BodyReader(gather(parts, headerBytes), NAME);
    r.bytes(4 + 12 * runCount);
    const kinds = new Uint8Array(r.bytes(blocks));
    const sizes = new Uint32Array(blocks);
    let total = 0;
    for (let i = 0; i < blocks; i++) {
      const size = r.u32();
      if (!sizeFits(kinds[i], size, unit))
        throw protocolError(`${NAME}: block ${i} has kind ${kinds[i]} and size ${size}`);
      sizes[i] = size;
      total += size;
    }
    const payload = Array.isArray(body) ? after(parts, headerBytes) : [body.subarray(headerBytes)];
    const held = payload.reduce((n, p) => n + p.length, 0);
    if (total !== held) throw protocolError(`${NAME}: sizes add up to ${total}, payload has ${held}`);
    return { runs, kinds, sizes, payload };
  },
};

/** The runs, checked: in order, apart, and together no more blocks than one BLOCKS message carries. */
function readRuns(r: BodyReader, runCount: number, unit: number): BlockRuns["runs"] {
  r.u32();
  const runs: BlockRuns["runs"] = [];
  let blocks = 0;
  let end = -1;
  for (let i = 0; i < runCount; i++) {
    const first = r.u64();
    const count = r.u32();
    blocks += count;
    if (
      count === 0 ||
      first <= end ||
      blocks > MAX_BLOCKS_PER_MESSAGE ||
      (blocks > 1 && blocks * unit > MAX_BLOCKS_BYTES)
    ) {
      throw protocolError(
        `${NAME}: run ${i} (${count} blocks from ${first}) after block ${end}, ${blocks} blocks in all`,
      );
    }
    runs.push({ first, count });
    end = first + count;
  }
  return runs;
}
