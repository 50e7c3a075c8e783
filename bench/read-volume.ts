/**
 * One trial of the read benchmark, in its own process: reads a whole volume
 * in batches, `depth` batches in flight (read-ahead, as the engine does), and
 * prints {"bytes", "seconds", "direct"} as JSON.
 *   tsx bench/read-volume.ts PATH [--buffered] [--no-digest] [--block-size N] [--batch N] [--depth N]
 */
import { parseArgs } from "node:util";
import { openVolume } from "../src/native/index.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    buffered: { type: "boolean", default: false },
    "no-digest": { type: "boolean", default: false },
    "block-size": { type: "string", default: "65536" },
    batch: { type: "string", default: String(64 << 20) },
    depth: { type: "string", default: "2" },
  },
});
const path = positionals[0];
if (path === undefined) throw new Error("usage: read-volume.ts PATH [options]");
const blockSize = Number(values["block-size"]);
const batch = Number(values.batch);
const depth = Number(values.depth);

const volume = await openVolume(path, { direct: !values.buffered });
const size = volume.size;
const buffers = Array.from({ length: depth }, () => volume.allocBuffer(batch));
let next = 0;
let direct = true;
const started = process.hrtime.bigint();
async function lane(buffer: Buffer): Promise<void> {
  while (next < size) {
    const offset = next;
    const length = Math.min(batch, size - offset);
    next += length;
    const options = values["no-digest"] ? { blockSize } : { blockSize, seed: 1n };
    const result = await volume.read(buffer, offset, length, options);
    direct &&= result.direct;
  }
}
await Promise.all(buffers.map(lane));
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await volume.close();
console.log(JSON.stringify({ bytes: size, seconds, direct }));
