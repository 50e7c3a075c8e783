/**
 * How a source and a receiver know each other over the network: mutual TLS
 * by default, or with --insecure-plaintext a shared secret proven by both
 * before anything else (see secret.ts). Either way the receiver learns which
 * targets this peer may write, before it looks any target up.
 */
import type { Server, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Authorized } from "../job/authorized.js";
import { checkAllowed } from "../job/authorized.js";
import { codecs } from "../protocol/codecs.js";
import { FrameChannel } from "../protocol/frames.js";
import { MessageType } from "../protocol/messages.js";
import type { HostKey } from "./keys.js";
import { checkKnownHost } from "./known-hosts.js";
import { answerReceiver, challengeSource } from "./secret.js";
import { connectTcp, type Endpoint, listenTcp } from "./tcp.js";
import { connectTls, listenTls } from "./tls.js";

export type ClientSecurity =
  | { kind: "tls"; key: HostKey; knownHosts: string; trustNewHost: boolean }
  | { kind: "plaintext"; secret: Buffer };

export type ServerSecurity =
  | { kind: "tls"; key: HostKey; authorized: Authorized }
  | { kind: "plaintext"; secret: Buffer };

/** Connects to a receiver and proves who we are; throws E_AUTH if either side is not who it should be. */
export async function connectSecure(
  to: Endpoint,
  security: ClientSecurity,
  log: (line: string) => void,
): Promise<Duplex> {
  if (security.kind === "tls") {
    const hostPort = `${to.host}:${to.port}`;
    return connectTls(to, security.key, (fingerprint) =>
      checkKnownHost(security.knownHosts, hostPort, fingerprint, security.trustNewHost, log),
    );
  }
  const socket = await connectTcp(to);
  try {
    await answerReceiver(socket, security.secret);
  } catch (e) {
    socket.destroy();
    throw e;
  }
  return socket;
}

/** A connection whose peer proved itself; `authorize` throws E_AUTH for a target it may not write. */
export type OnPeer = (stream: Duplex & Socket, peer: string, authorize: (target: string) => void) => void;

export async function listenSecure(
  at: Endpoint,
  security: ServerSecurity,
  onPeer: OnPeer,
  onRefused: (peer: string, reason: string) => void,
): Promise<Server> {
  if (security.kind === "tls") {
    const { authorized } = security;
    return listenTls(
      at,
      security.key,
      (socket, fingerprint) => {
        const peer = `${socket.remoteAddress}:${socket.remotePort}`;
        if (!authorized.has(fingerprint)) {
          const message = `key ${fingerprint} is not allowed here`;
          onRefused(peer, message);
          // The peer proved its key: it may hear why, then the connection ends.
          const channel = new FrameChannel(socket);
          channel
            .send(MessageType.error, codecs.error.encode({ code: "E_AUTH", message }))
            .then(() => channel.end())
            .catch(() => {})
            .finally(() => setTimeout(() => socket.destroy(), 1000).unref());
          return;
        }
        onPeer(socket, peer, (target) => checkAllowed(authorized, fingerprint, target));
      },
      onRefused,
    );
  }
  return listenTcp(at, (socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("error", () => {}); // a reset during the challenge is a refusal below, not a crash
    challengeSource(socket, security.secret).then(
      () => onPeer(socket, peer, () => {}),
      (e: unknown) => {
        onRefused(peer, (e as Error).message);
        socket.destroy();
      },
    );
  });
}
