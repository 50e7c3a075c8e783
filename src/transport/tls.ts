/**
 * Mutual TLS 1.3 (AES-GCM only) between a source and a receiver. Each side
 * presents its host key's self-signed certificate; neither trusts names or
 * authorities. The receiver decides by the client key's fingerprint (see
 * src/job/authorized.ts); the source pins the receiver's (known-hosts.ts).
 */
import { once } from "node:events";
import type { Socket } from "node:net";
import { connect, createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { BlockferryError } from "../errors.js";
import { fingerprintOfCert, type HostKey } from "./keys.js";
import { type Endpoint, tune } from "./tcp.js";

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

/** What a receiver presents to every source: its key, TLS 1.3 only, and a request for the source's key. */
export function serverContext(mine: HostKey): SecureContext {
  return createSecureContext({ key: mine.key, cert: mine.cert, ...TLS });
}

/**
 * The receiver's side of the handshake on an accepted connection: resolves
 * with the key the source proved it holds, rejects (E_AUTH) with why not.
 * How long it may take is the caller's (admission.ts).
 */
export function acceptTls(raw: Socket, context: SecureContext): Promise<{ socket: TLSSocket; fingerprint: string }> {
  const socket = new TLSSocket(raw, {
    isServer: true,
    secureContext: context,
    requestCert: true,
    rejectUnauthorized: false,
  });
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      socket.destroy();
      reject(new BlockferryError("E_AUTH", why));
    };
    const onError = (e: Error) => fail(`TLS handshake failed: ${e.message}`);
    const onClose = () => fail("TLS handshake failed: the peer closed the connection");
    socket.once("error", onError).once("close", onClose);
    // "secure" is the event tls.Server itself waits for on the sockets it accepts.
    socket.once("secure", () => {
      socket.off("error", onError).off("close", onClose);
      socket.on("error", () => {}); // later failures surface through reads and writes
      const fingerprint = peerFingerprint(socket);
      if (fingerprint === undefined) return fail("no client key presented");
      resolve({ socket: tune(socket), fingerprint });
    });
  });
}
