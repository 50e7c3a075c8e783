/**
 * How much of a volume a copy never sends: holes (never read either) and
 * all-zero blocks (read, sent as a few bytes). Holes come from the volume's
 * extent list; the zero blocks' share of the data from the sample read.
 */
import type { DataLayout } from "../engine/sample-read.js";

export interface ZeroProfile {
  /** Bytes in holes: not read, not sent. */
  holeBytes: number;
  /** Bytes that hold data: what a copy reads. */
  dataBytes: number;
  /** Of those, the bytes of all-zero blocks (estimated from the sample unless it covered every byte). */
  zeroBytes: number;
  /** The rest: what a copy sends (before compression). */
  nonZeroBytes: number;
  holeFraction: number;
  /** All-zero blocks as a fraction of the data read in the sample. */
  zeroFractionOfData: number;
}

export function zeroProfile(size: number, layout: DataLayout, sampled: number, sampledZero: number): ZeroProfile {
  const dataBytes = Math.min(size, layout.dataBytes);
  const zeroFractionOfData = sampled > 0 ? sampledZero / sampled : 0;
  const zeroBytes = Math.round(dataBytes * zeroFractionOfData);
  return {
    holeBytes: size - dataBytes,
    dataBytes,
    zeroBytes,
    nonZeroBytes: dataBytes - zeroBytes,
    holeFraction: size > 0 ? (size - dataBytes) / size : 0,
    zeroFractionOfData,
  };
}
