/**
 * A host's identity for TLS: an Ed25519 key pair in a self-signed X.509
 * certificate (TLS needs a certificate; nothing here trusts its names or
 * dates). Peers are recognised by the fingerprint of the public key alone,
 * "sha256:" and the unpadded base64 of SHA-256 over the key's SPKI, as
 * OpenSSH prints its keys. No certificate authority is involved.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";

export interface HostKey {
  key: string;
  cert: string;
  fingerprint: string;
}

/** BLOCKFERRY_KEY_DIR if set; /etc/blockferry for root; else ~/.config/blockferry. */
export function defaultKeyDir(): string {
  if (process.env.BLOCKFERRY_KEY_DIR) return process.env.BLOCKFERRY_KEY_DIR;
  if (process.getuid?.() === 0) return "/etc/blockferry";
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "blockferry");
}

export function fingerprintOfSpki(spki: Buffer): string {
  return `sha256:${createHash("sha256").update(spki).digest("base64").replace(/=+$/, "")}`;
}

export function fingerprintOfCert(cert: X509Certificate | string): string {
  const x = typeof cert === "string" ? new X509Certificate(cert) : cert;
  return fingerprintOfSpki(x.publicKey.export({ type: "spki", format: "der" }));
}

export const FINGERPRINT = /^sha256:[A-Za-z0-9+/]{43}$/;

/** Creates DIR/key.pem (mode 0600) and DIR/cert.pem; refuses to replace a key unless `force`. */
export async function generateHostKey(dir: string, name: string, force: boolean): Promise<HostKey> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const cert = selfSignedCertificate(name, publicKey.export({ type: "spki", format: "der" }), (tbs) =>
    sign(null, tbs, privateKey),
  );
  const key = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const fingerprint = fingerprintOfCert(cert); // parses it: nothing is written unless it is valid
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, "key.pem"), key, { mode: 0o600, flag: force ? "w" : "wx" });
    await chmod(join(dir, "key.pem"), 0o600); // a replaced file keeps its old mode otherwise
    await writeFile(join(dir, "cert.pem"), cert, { mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new BlockferryError("E_INVALID_ARG", `${join(dir, "key.pem")} exists already; --force replaces it`);
    }
    throw fromFsError(e, `cannot write the key in ${dir}`);
  }
  return { key, cert, fingerprint };
}

export async function loadHostKey(dir: string): Promise<HostKey> {
  try {
    const [key, cert] = await Promise.all([
      readFile(join(dir, "key.pem"), "utf8"),
      readFile(join(dir, "cert.pem"), "utf8"),
    ]);
    const x = new X509Certificate(cert);
    const mine = createPrivateKey(key);
    if (!x.checkPrivateKey(mine)) {
      throw new BlockferryError("E_INVALID_ARG", `${dir}: cert.pem is not the certificate of key.pem`);
    }
    return { key, cert, fingerprint: fingerprintOfCert(x) };
  } catch (e) {
    if (e instanceof BlockferryError) throw e;
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new BlockferryError(
        "E_NOT_FOUND",
        `no key in ${dir}: create one with \`blockferry keygen --key-dir ${dir}\`, or name another with --key-dir`,
      );
    }
    if ((e as NodeJS.ErrnoException).code === undefined) {
      throw new BlockferryError("E_CORRUPT", `${dir}: key.pem or cert.pem is damaged: ${(e as Error).message}`);
    }
    throw fromFsError(e, `cannot read the key in ${dir}`);
  }
}

// --- a minimal DER writer, enough for one self-signed certificate ---

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  if (n > 0xffff) throw new BlockferryError("E_INVALID_ARG", "certificate field too long");
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const ED25519 = seq(Buffer.from([0x06, 0x03, 0x2b, 0x65, 0x70])); // AlgorithmIdentifier 1.3.101.112
const commonName = (name: string) =>
  seq(tlv(0x31, seq(Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]), tlv(0x0c, Buffer.from(name, "utf8")))));
const generalizedTime = (s: string) => tlv(0x18, Buffer.from(s, "ascii"));

function selfSignedCertificate(name: string, spki: Buffer, signer: (tbs: Buffer) => Buffer): string {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01; // positive, and minimal DER (no leading zero byte)
  const now = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version 3
    tlv(0x02, serial),
    ED25519,
    commonName(name),
    seq(tlv(0x17, Buffer.from(`${now.slice(2)}Z`, "ascii")), generalizedTime("99991231235959Z")), // no expiry (RFC 5280)
    commonName(name),
    spki,
  );
  const der = seq(tbs, ED25519, tlv(0x03, Buffer.concat([Buffer.from([0]), signer(tbs)])));
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}
