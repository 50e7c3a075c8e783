/**
 * One host key for every benchmark run (kept in bench/out/keys): receivers
 * allow it, and each receiver started is pinned in its known_hosts, so the
 * benchmarks run over TLS, as users do. Children inherit BLOCKFERRY_KEY_DIR.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateHostKey, loadHostKey } from "../../src/transport/keys.js";
import { out } from "./paths.js";

export const keyDir = join(out, "keys");
mkdirSync(keyDir, { recursive: true });
const key = existsSync(join(keyDir, "key.pem"))
  ? await loadHostKey(keyDir)
  : await generateHostKey(keyDir, "bench", false);
writeFileSync(join(keyDir, "allowed_sources"), `${key.fingerprint} *\n`);
process.env.BLOCKFERRY_KEY_DIR = keyDir;

/** A shared secret for the --insecure-plaintext runs. */
export const secretFile = join(keyDir, "plaintext-secret");
writeFileSync(secretFile, "bench-secret-not-for-production\n", { mode: 0o600 });

export function pin(host: string, port: number): void {
  appendFileSync(join(keyDir, "known_hosts"), `${host}:${port} ${key.fingerprint}\n`);
}
