/**
 * What would make the predicted syncs faster, found by running the model
 * again with other settings: compression on or off, the digest cache, change
 * tracking on thin LVs.
 */

import { formatBytes, formatRate } from "../units.js";
import { type ModelInput, type Prediction, predict } from "./model.js";

const secs = (s: number) => `${s.toFixed(1)} s`;
/** A change of setting is worth naming only if it saves this share of the time. */
const WORTH = 0.1;

export function advise(m: ModelInput, p: Prediction): string[] {
  const out: string[] = [];
  const full = p.fullCopy;
  const slowest = full.stages.find((s) => s.name === full.bottleneck);
  const rate = slowest === undefined ? "" : ` at ${formatRate(slowest.bytes / Math.max(slowest.seconds, 1e-9))}`;
  if (m.network === undefined) {
    // No link measured: say how fast a link this host can feed, with and without lz4.
    const feeds = (e: Prediction["fullCopy"]) => formatRate(e.wireBytes / Math.max(e.seconds - e.setupSeconds, 1e-9));
    const other = predict({ ...m, compress: !m.compress }).fullCopy;
    const [plain, lz4] = m.compress ? [other, full] : [full, other];
    out.push(
      `full copy: this host alone (${full.bottleneck}${rate}) would take ${secs(full.seconds)}: a link with less than ` +
        `${feeds(plain)} of goodput would make it slower (${feeds(lz4)} with --compress lz4, ${m.lz4Ratio.toFixed(2)}:1); measure the link with --to`,
    );
  } else if (full.bottleneck === "network") {
    if (m.compress) {
      out.push(`full copy: network-bound${rate}, with lz4 already cutting the bytes ${m.lz4Ratio.toFixed(2)}:1`);
    } else {
      const lz4 = predict({ ...m, compress: true });
      if (lz4.fullCopy.seconds < full.seconds * (1 - WORTH)) {
        out.push(
          `full copy: network-bound${rate}: --compress lz4 would cut the bytes on the wire to ` +
            `${formatBytes(lz4.fullCopy.wireBytes)} (${m.lz4Ratio.toFixed(2)}:1): ${secs(lz4.fullCopy.seconds)} instead of ${secs(full.seconds)}`,
        );
      } else {
        out.push(
          `full copy: network-bound${rate}; this data does not compress (lz4 ${m.lz4Ratio.toFixed(2)}:1): --compress lz4 would not help`,
        );
      }
    }
  } else if (full.bottleneck === "lz4") {
    const plain = predict({ ...m, compress: false });
    out.push(`full copy: lz4 is the slowest stage${rate}: without --compress, ${secs(plain.fullCopy.seconds)}`);
  } else if (full.bottleneck === "source read" || full.bottleneck === "target write") {
    out.push(`full copy: disk-bound (${full.bottleneck}${rate}): compression won't help`);
  } else {
    out.push(`full copy: bound by ${full.bottleneck}${rate}`);
  }

  const delta = p.delta;
  if (delta.bottleneck.startsWith("reads") && p.deltaCached.seconds < delta.seconds * (1 - WORTH)) {
    out.push(
      `delta: bound by reading both volumes; with the digest cache (kept after each verified sync, used by default) ` +
        `the target reads only the changed blocks: ${secs(p.deltaCached.seconds)} instead of ${secs(delta.seconds)}`,
    );
  } else if (delta.bottleneck === "network (digests back)" && m.blockSize < 1024 * 1024) {
    out.push(
      `delta: the target's digests (${formatBytes(delta.digestBytes)}, 16 bytes per ${formatBytes(m.blockSize)} block) fill the link: ` +
        `a larger --block-size sends fewer (the two-level comparison still sends only the 4 KiB pieces that changed)`,
    );
  } else {
    out.push(`delta: bound by ${delta.bottleneck}`);
  }
  if (p.deltaTracked.seconds < Math.min(delta.seconds, p.deltaCached.seconds) * (1 - WORTH)) {
    out.push(
      `delta: on a thin LV, --snapshot lvm keeps a base snapshot and thin_delta names the changed chunks: the source ` +
        `reads ${formatBytes(p.deltaTracked.sourceReadBytes)} instead of the whole volume, ${secs(p.deltaTracked.seconds)}`,
    );
  }
  return out;
}
