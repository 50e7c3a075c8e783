/** The process's stdin and stdout as one byte stream (a receiver started by ssh). */
import { Duplex } from "node:stream";

export function stdioStream(): Duplex {
  return Duplex.from({ readable: process.stdin, writable: process.stdout });
}

/** Who is on the other end of stdin/stdout: "ssh", and the client's address when ssh says it (SSH_CLIENT). */
export function stdioPeer(env: NodeJS.ProcessEnv = process.env): string {
  const address = (env.SSH_CLIENT ?? "").trim().split(/\s+/)[0] ?? "";
  return address === "" ? "ssh" : `ssh ${address}`;
}
