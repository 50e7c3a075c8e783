/** Plain TCP: the byte stream TLS, or the shared secret's records, run over (secure.ts). */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { BlockferryError } from "../errors.js";
import { invalid } from "../validate.js";

export interface Endpoint {
  host: string;
  port: number;
}

/** Parses a listening address "[HOST:]PORT" (an IPv6 host in brackets; port 0 picks a free one). */
export function parseEndpoint(spec: string, defaultHost: string): Endpoint {
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?(\d{1,5})$/.exec(spec);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw invalid("address", "[HOST:]PORT with PORT from 0 to 65535", spec);
  return { host: m[1] ?? m[2] ?? defaultHost, port };
}

export function tune<S extends Socket>(socket: S): S {
  socket.setNoDelay(true); // acknowledgements must not wait behind Nagle
  socket.setKeepAlive(true, 30_000);
  return socket;
}

export async function connectTcp(to: Endpoint, timeoutMs = 30_000): Promise<Socket> {
  // Each side ends its own half (the records' end record is sent before our FIN, whatever the peer did).
  const socket = connect({ host: to.host, port: to.port, allowHalfOpen: true });
  socket.setTimeout(timeoutMs);
  try {
    await Promise.race([
      once(socket, "connect"),
      once(socket, "timeout").then(() => {
        throw new Error(`no answer within ${timeoutMs / 1000} s`);
      }),
    ]);
  } catch (e) {
    socket.destroy();
    throw new BlockferryError("E_NETWORK", `cannot connect to ${to.host}:${to.port}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  socket.setTimeout(0);
  socket.on("error", () => {}); // failures surface through reads and writes, never as an uncaught event
  return tune(socket);
}

export async function listenTcp(at: Endpoint, onConnection: (socket: Socket) => void): Promise<Server> {
  return startListening(
    createServer({ allowHalfOpen: true }, (socket) => onConnection(tune(socket))),
    at,
  );
}

/** Starts `server` listening on `at`; resolves once it does. */
export async function startListening<S extends Server>(server: S, at: Endpoint): Promise<S> {
  server.listen(at.port, at.host);
  try {
    await once(server, "listening");
  } catch (e) {
    throw new BlockferryError("E_NETWORK", `cannot listen on ${at.host}:${at.port}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return server;
}
