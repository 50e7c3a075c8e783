import { hostname } from "node:os";
import type { Command } from "commander";
import { defaultKeyDir, generateHostKey, loadHostKey } from "../transport/keys.js";

/** `blockferry keygen`: this host's key pair, for TLS between sources and receivers. */
export function registerKeygen(program: Command): void {
  program
    .command("keygen")
    .description("create this host's key (Ed25519) and print its fingerprint, to give to the other end")
    .option("--key-dir <dir>", "where to keep key.pem and cert.pem", defaultKeyDir())
    .option("--name <name>", "a name for the certificate (for people; peers go by the fingerprint)", hostname())
    .option("--force", "replace an existing key (every peer that pinned or allowed it must be told)")
    .option("--show", "print the fingerprint of the existing key")
    .action(async (flags: { keyDir: string; name: string; force?: boolean; show?: boolean }) => {
      const key = flags.show
        ? await loadHostKey(flags.keyDir)
        : await generateHostKey(flags.keyDir, flags.name, flags.force ?? false);
      process.stdout.write(`${key.fingerprint}\n`);
    });
}
