import { allocAligned, digestBlocks } from "/work/main/src/native/index.js";
import { randomFillSync } from "node:crypto";
const size = 256 << 20;
const data = allocAligned(size); randomFillSync(data);
for (const bs of [4096, 65536, 1 << 20]) {
  let best = 0;
  for (let t = 0; t < 5; t++) {
    const t0 = process.hrtime.bigint();
    await digestBlocks(data, bs, 1n);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.max(best, size / s / 1e9);
  }
  console.log(bs, best.toFixed(2), "GB/s");
}
