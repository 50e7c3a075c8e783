/**
 * Two connected in-process duplex streams, with backpressure and byte
 * counters: how tests run source and target in one process, and how a copy
 * to a local path runs. Destroying one end breaks the other, like a reset.
 */
import { Duplex } from "node:stream";

export interface MemoryPair {
  a: Duplex;
  b: Duplex;
  /** Bytes written into each end (a → b, b → a). */
  bytes: { aToB: number; bToA: number };
}

export function memoryPair(highWaterMark = 4 * 1024 * 1024): MemoryPair {
  const bytes = { aToB: 0, bToA: 0 };
  const ends: Duplex[] = [];
  const waiting: Array<(() => void) | undefined> = [undefined, undefined];
  const make = (self: number): Duplex => {
    const other = 1 - self;
    return new Duplex({
      readableHighWaterMark: highWaterMark,
      writableHighWaterMark: highWaterMark,
      read() {
        // The peer's write waits for us to want more.
        const resume = waiting[other];
        waiting[other] = undefined;
        resume?.();
      },
      write(chunk: Buffer, _encoding, callback) {
        if (self === 0) bytes.aToB += chunk.length;
        else bytes.bToA += chunk.length;
        const peer = ends[other] as Duplex;
        if (peer.destroyed) return callback(new Error("connection reset by peer"));
        // A copy, as a socket would make: the writer may reuse its buffer once called back.
        if (peer.push(Buffer.from(chunk))) callback();
        else waiting[self] = () => callback();
      },
      final(callback) {
        (ends[other] as Duplex).push(null);
        callback();
      },
      destroy(error, callback) {
        // A clean close (both directions ended) leaves the peer alone; anything else resets it.
        const peer = ends[other] as Duplex;
        const clean = error === null && (ends[self] as Duplex).writableFinished;
        if (!peer.destroyed && !clean) peer.destroy(new Error("connection reset by peer"));
        const resume = waiting[self];
        waiting[self] = undefined;
        resume?.();
        callback(error);
      },
    });
  };
  ends.push(make(0), make(1));
  return { a: ends[0] as Duplex, b: ends[1] as Duplex, bytes };
}
