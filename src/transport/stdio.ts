/** The process's stdin and stdout as one byte stream (a receiver started by ssh). */
import { Duplex } from "node:stream";

export function stdioStream(): Duplex {
  return Duplex.from({ readable: process.stdin, writable: process.stdout });
}
