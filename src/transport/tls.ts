/**
 * Mutual TLS 1.3 (AES-GCM only) between a source and a receiver. Each side
 * presents its host key's self-signed certificate; neither trusts names or
 * authorities. The receiver decides by the client key's fingerprint (see
 * src/job/authorized.ts); the source pins the receiver's (known-hosts.ts).
 */
import { once } from "node:events";
import type { Server } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";
import { BlockferryError } from "../errors.js";
import { fingerprintOfCert, type HostKey } from "./keys.js";
import { type Endpoint, startListening, tune } from "./tcp.js";

const TLS = {
  minVersion: "TLSv1.3",
  maxVersion: "TLSv1.3",
  ciphers: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
} as const;

const HANDSHAKE_MS = 30_000;

/** The fingerprint of the key the peer proved it holds, or undefined if it showed none. */
export function peerFingerprint(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerX509Certificate();
  return cert === undefined ? undefined : fingerprintOfCert(cert);
}

/** Connects and completes the handshake; `checkServer` throws to refuse the receiver's key. */
export async function connectTls(
  to: Endpoint,
  mine: HostKey,
  checkServer: (fingerprint: string) => Promise<void>,
): Promise<TLSSocket> {
  const socket = connect({
    host: to.host,
    port: to.port,
    key: mine.key,
    cert: mine.cert,
    rejectUnauthorized: false, // self-signed: the key is checked below, by its fingerprint
    ...TLS,
  });
  socket.setTimeout(HANDSHAKE_MS);
  try {
    await Promise.race([
      once(socket, "secureConnect"),
      once(socket, "timeout").then(() => {
        throw new Error(`no TLS handshake within ${HANDSHAKE_MS / 1000} s`);
      }),
    ]);
  } catch (e) {
    socket.destroy();
    const why = (e as Error).message;
    const hint = /wrong version number|packet length too long/.test(why)
      ? " (does the receiver run with --insecure-plaintext?)"
      : "";
    throw new BlockferryError("E_NETWORK", `TLS to ${to.host}:${to.port} failed: ${why}${hint}`, { cause: e });
  }
  socket.setTimeout(0);
  const theirs = peerFingerprint(socket);
  try {
    if (theirs === undefined) throw new BlockferryError("E_AUTH", `${to.host}:${to.port} presented no key`);
    await checkServer(theirs);
  } catch (e) {
    socket.destroy();
    throw e;
  }
  tune(socket);
  return socket;
}

/**
 * Listens for TLS connections. A client that completes the handshake with a
 * key goes to `onClient` with the key's fingerprint; one that fails the
 * handshake, or shows no key, is logged with its address and dropped.
 */
export async function listenTls(
  at: Endpoint,
  mine: HostKey,
  onClient: (socket: TLSSocket, fingerprint: string) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<Server> {
  const server = createServer({
    key: mine.key,
    cert: mine.cert,
    requestCert: true,
    rejectUnauthorized: false,
    // A client that stalls mid-handshake is dropped and logged (tests shorten the wait).
    handshakeTimeout: Number(process.env.BLOCKFERRY_HANDSHAKE_MS) || 10_000,
    ...TLS,
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    const fingerprint = peerFingerprint(socket);
    if (fingerprint === undefined) {
      onRefused(`${socket.remoteAddress}:${socket.remotePort}`, "no client key presented");
      socket.destroy();
      return;
    }
    onClient(tune(socket), fingerprint);
  });
  server.on("tlsClientError", (e, socket) => {
    onRefused(`${socket.remoteAddress}:${socket.remotePort}`, `TLS handshake failed: ${e.message}`);
    socket.destroy();
  });
  return startListening(server, at);
}
