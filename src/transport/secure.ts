/**
 * How a source and a receiver know each other over the network: mutual TLS
 * by default, or with --insecure-plaintext a shared secret proven by both
 * before anything else, then records tagged with keys derived from it (see
 * secret.ts, records.ts). Either way the receiver learns which targets this
 * peer may write, before it looks any target up, and a peer has a few
 * seconds and a limited number of places to prove itself (admission.ts).
 */
import type { Server } from "node:net";
import type { Duplex } from "node:stream";
import { BlockferryError } from "../errors.js";
import {
  Admission,
  type AdmissionLimits,
  type Authenticate,
  DEFAULT_LIMITS,
  LimitedLog,
  type OnAuthenticated,
} from "./admission.js";
import { type Authorized, checkAllowed } from "./allow-list.js";
import type { HostKey } from "./keys.js";
import { checkKnownHost } from "./known-hosts.js";
import { RecordStream } from "./records.js";
import { answerReceiver, challengeSource } from "./secret.js";
import { connectTcp, type Endpoint, listenTcp } from "./tcp.js";
import { acceptTls, connectTls, serverContext } from "./tls.js";

export type ClientSecurity =
  | {
      kind: "tls";
      key: HostKey;
      knownHosts: string;
      trustNewHost: boolean;
      /** Where a newly pinned receiver key is announced: a security event, said even under --quiet. */
      announce?: ((line: string) => void) | undefined;
    }
  | { kind: "plaintext"; secret: Buffer };

/** `limits`: how many connections may wait to authenticate, and for how long (DEFAULT_LIMITS if absent). */
export type ServerSecurity = (
  | { kind: "tls"; key: HostKey; authorized: Authorized }
  | { kind: "plaintext"; secret: Buffer }
) & { limits?: AdmissionLimits };

/** Connects to a receiver and proves who we are; throws E_AUTH if either side is not who it should be. */
export async function connectSecure(
  to: Endpoint,
  security: ClientSecurity,
  log: (line: string) => void,
): Promise<Duplex> {
  if (security.kind === "tls") {
    const hostPort = `${to.host}:${to.port}`;
    return connectTls(to, security.key, (fingerprint) =>
      checkKnownHost(security.knownHosts, hostPort, fingerprint, security.trustNewHost, security.announce ?? log),
    );
  }
  const socket = await connectTcp(to);
  try {
    return new RecordStream(socket, await answerReceiver(socket, security.secret));
  } catch (e) {
    socket.destroy();
    throw e;
  }
}

/** A connection whose peer proved itself; `authorize` throws E_AUTH for a target it may not write. */
export type OnPeer = OnAuthenticated;

/**
 * Tells a peer that proved its key, but is not allowed here, why it is
 * refused (the caller speaks the protocol; this layer only decides).
 */
export type TellRefused = (stream: Duplex, error: BlockferryError) => Promise<void>;

/**
 * Listens on `at`; each connection gets a place among those waiting to
 * authenticate (admission.ts), then goes to `onPeer` once its peer has
 * proved itself. Refusals, of connections and of peers, go to `log` as lines.
 */
export async function listenSecure(
  at: Endpoint,
  security: ServerSecurity,
  onPeer: OnPeer,
  log: (line: string) => void,
  tellRefused: TellRefused = async () => {},
): Promise<Server> {
  const refusals = new LimitedLog(log);
  const authenticate = security.kind === "tls" ? tlsPeers(security, tellRefused) : plaintextPeers(security.secret);
  const admission = new Admission(security.limits ?? DEFAULT_LIMITS, authenticate, onPeer, refusals);
  const server = await listenTcp(at, (socket) => admission.admit(socket));
  // Accepting can fail (EMFILE when out of descriptors): a refusal, not the end of the server.
  server.on("error", (e) => refusals.line(`accepting a connection failed: ${e.message}`));
  return server;
}

function tlsPeers(security: Extract<ServerSecurity, { kind: "tls" }>, tellRefused: TellRefused): Authenticate {
  const context = serverContext(security.key);
  const { authorized } = security;
  return async (raw, refused) => {
    const { socket, fingerprint } = await acceptTls(raw, context);
    if (!authorized.has(fingerprint)) {
      const error = new BlockferryError("E_AUTH", `key ${fingerprint} is not allowed here`);
      refused(error.message);
      // The peer proved its key: it may hear why, then the connection ends.
      await tellRefused(socket, error).catch(() => {});
      throw error;
    }
    return { stream: socket, authorize: (target) => checkAllowed(authorized, fingerprint, target) };
  };
}

function plaintextPeers(secret: Buffer): Authenticate {
  return async (raw) => {
    const keys = await challengeSource(raw, secret);
    return { stream: new RecordStream(raw, keys), authorize: () => {} };
  };
}
