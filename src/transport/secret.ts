/**
 * --insecure-plaintext: no encryption, but both ends prove they hold the same
 * shared secret before any protocol message (and so before any write), and
 * derive this session's keys from it:
 *
 *   receiver → source   "BFAUTH2\n", nonce R (32 bytes)
 *   source → receiver   nonce S (32), HMAC-SHA256(secret, "source" R S)
 *   receiver → source   HMAC-SHA256(secret, "receiver" R S)
 *   then, each way, records tagged with that direction's key (records.ts):
 *   HKDF-SHA256(secret, salt R S, "blockferry records v2 source to receiver"
 *   or "... receiver to source"), 32 bytes each
 *
 * Fresh nonces on both sides, so neither a recorded handshake nor a recorded
 * record can be replayed into another session. BFAUTH1 (before the records)
 * left the data after the handshake unprotected; it is refused by name.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { BlockferryError, fromFsError } from "../errors.js";
import type { SessionKeys } from "./records.js";

const MAGIC = Buffer.from("BFAUTH2\n", "latin1");
const OLD_MAGIC = Buffer.from("BFAUTH1\n", "latin1");
const NONCE = 32;
/** How long the source waits for each answer of the receiver (the receiver's own deadline is admission.ts's). */
const STEP_MS = 10_000;

export async function readSecret(file: string): Promise<Buffer> {
  let secret: Buffer;
  try {
    secret = Buffer.from((await readFile(file, "utf8")).trim(), "utf8");
  } catch (e) {
    throw fromFsError(e, `cannot read the shared secret ${file}`);
  }
  if (secret.length < 16) {
    throw new BlockferryError(
      "E_INVALID_ARG",
      `--secret-file: expected at least 16 bytes of secret, got ${secret.length}`,
    );
  }
  return secret;
}

const mac = (secret: Buffer, who: string, r: Buffer, s: Buffer) =>
  createHmac("sha256", secret).update(who).update(r).update(s).digest();

function directionKey(secret: Buffer, r: Buffer, s: Buffer, direction: string): Buffer {
  const info = `blockferry records v2 ${direction}`;
  return Buffer.from(hkdfSync("sha256", secret, Buffer.concat([r, s]), info, 32));
}

/** The keys of this session: what the source sends is checked with `toReceiver`, and the other way round. */
export function sessionKeys(secret: Buffer, r: Buffer, s: Buffer): { toReceiver: Buffer; toSource: Buffer } {
  return {
    toReceiver: directionKey(secret, r, s, "source to receiver"),
    toSource: directionKey(secret, r, s, "receiver to source"),
  };
}

/** Reads exactly `n` bytes, leaving anything after them for the protocol. */
async function readExactly(socket: Socket, n: number, what: string): Promise<Buffer> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const chunk = socket.read(n) as Buffer | null;
    if (chunk !== null && chunk.length === n) return chunk;
    if (chunk !== null) throw new BlockferryError("E_AUTH", `${what}: the peer closed after ${chunk.length} bytes`);
    if (socket.readableEnded || socket.destroyed) {
      throw new BlockferryError("E_AUTH", `${what}: ${socket.errored?.message ?? "the peer closed"}`);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new BlockferryError("E_AUTH", `${what}: no answer within ${STEP_MS / 1000} s`);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        socket.off("readable", done).off("close", done).off("end", done).off("error", done);
        resolve();
      };
      const timer = setTimeout(done, left);
      socket.once("readable", done).once("close", done).once("end", done).once("error", done);
    });
  }
}

/** Receiver side; throws E_AUTH (after which the caller drops the connection). */
export async function challengeSource(socket: Socket, secret: Buffer): Promise<SessionKeys> {
  const r = randomBytes(NONCE);
  socket.write(Buffer.concat([MAGIC, r]));
  const answer = await readExactly(socket, 2 * NONCE, "shared-secret handshake");
  const s = answer.subarray(0, NONCE);
  if (!timingSafeEqual(answer.subarray(NONCE), mac(secret, "source", r, s))) {
    throw new BlockferryError("E_AUTH", "the source does not hold the shared secret");
  }
  socket.write(mac(secret, "receiver", r, s));
  const keys = sessionKeys(secret, r, s);
  return { send: keys.toSource, receive: keys.toReceiver };
}

/** Source side; throws E_AUTH if the receiver does not prove the secret or refuses ours. */
export async function answerReceiver(socket: Socket, secret: Buffer): Promise<SessionKeys> {
  const hello = await readExactly(socket, MAGIC.length + NONCE, "shared-secret handshake").catch((e: unknown) => {
    throw new BlockferryError(
      "E_AUTH",
      `${(e as Error).message} (does the receiver run with --insecure-plaintext? by default it speaks TLS)`,
    );
  });
  if (hello.subarray(0, MAGIC.length).equals(OLD_MAGIC)) {
    throw new BlockferryError(
      "E_VERSION",
      "the receiver speaks the older plaintext handshake (BFAUTH1), which leaves the data unauthenticated: upgrade it",
    );
  }
  if (!hello.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new BlockferryError("E_AUTH", "the receiver did not start a shared-secret handshake (is it using TLS?)");
  }
  const r = hello.subarray(MAGIC.length);
  const s = randomBytes(NONCE);
  socket.write(Buffer.concat([s, mac(secret, "source", r, s)]));
  const proof = await readExactly(socket, NONCE, "shared-secret handshake").catch((e: unknown) => {
    throw new BlockferryError("E_AUTH", `the receiver refused the shared secret (${(e as Error).message})`);
  });
  if (!timingSafeEqual(proof, mac(secret, "receiver", r, s))) {
    throw new BlockferryError("E_AUTH", "the receiver does not hold the shared secret");
  }
  const keys = sessionKeys(secret, r, s);
  return { send: keys.toReceiver, receive: keys.toSource };
}
