/** Counters a transfer keeps as it runs; progress displays poll them. */
export class TransferStats {
  readonly startedAt = Date.now();
  /** Bytes of the volume. */
  totalBytes = 0;
  /** Where the transfer started (a resumed copy starts past 0). */
  resumedFromBytes = 0;
  /** Bytes of the volume handled so far (sent, or known to be zero). */
  doneBytes = 0;
  /** Bytes read from the volume (holes are not read). */
  readBytes = 0;
  /** Bytes that travelled as zero runs or zero blocks (no payload). */
  zeroBytes = 0;
  /** Bytes of blocks sent raw, and sent compressed (before compression). */
  rawBytes = 0;
  compressedInBytes = 0;
  /** Payload bytes those compressed blocks took on the wire. */
  compressedOutBytes = 0;
  /** Bytes written to the network, framing included. */
  wireBytes = 0;
  /** Bytes of the target acknowledged as durable. */
  ackedBytes = 0;
  /** Seconds spent waiting for the peer (window full, or its digests and answers). */
  waitSeconds = 0;
  /** Seconds of volume reads, of digesting, and of writes (on worker threads; they overlap). */
  readSeconds = 0;
  hashSeconds = 0;
  writeSeconds = 0;
  /** Bytes the target already held (compare mode): not sent. */
  sameBytes = 0;
  /** Blocks compared or copied, and those that had to be sent (compare mode). */
  comparedBlocks = 0;
  changedBlocks = 0;
  /** Bytes of the target's digests received (compare mode). */
  digestBytes = 0;
  /** What the target reported at the end: bytes it read of its volume, seconds it spent writing. */
  targetReadBytes = 0;
  targetWriteSeconds = 0;
  /** The comparison used the source's digest cache instead of the target's digests. */
  cachedDigests = false;
  /** Change tracking found the changed blocks (thin_delta): only those were read. */
  changesFromThinDelta = false;
  /** Seconds the change-tracking diff took (0 without one). */
  diffSeconds = 0;
  /** Bytes re-read to check the already-copied part of a resumed copy. */
  prefixCheckedBytes = 0;

  elapsedSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }
}
