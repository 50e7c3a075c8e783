/**
 * The source's pinned receiver keys: one line per receiver, "HOST:PORT
 * FINGERPRINT", as ssh's known_hosts. A receiver whose key differs from the
 * pinned one is refused (it may be an impostor); an unknown receiver is
 * refused too, unless the user asked to trust it on first use.
 */
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { BlockferryError, fromFsError } from "../errors.js";
import { FINGERPRINT } from "./keys.js";

export async function checkKnownHost(
  file: string,
  hostPort: string,
  fingerprint: string,
  trustNew: boolean,
  log: (line: string) => void,
): Promise<void> {
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return "";
    throw fromFsError(e, `cannot read ${file}`);
  });
  for (const line of text.split("\n")) {
    const [host, key] = line.trim().split(/\s+/);
    if (host !== hostPort || key === undefined || !FINGERPRINT.test(key)) continue;
    if (key === fingerprint) return;
    throw new BlockferryError(
      "E_AUTH",
      `the receiver at ${hostPort} presents key ${fingerprint}, but ${file} pins ${key}: refusing (an impostor, or its key was replaced; if so, edit that line)`,
    );
  }
  if (!trustNew) {
    throw new BlockferryError(
      "E_AUTH",
      `the receiver at ${hostPort} is not in ${file}; its key is ${fingerprint}. Check it on the receiver (\`blockferry keygen --show\`), then run again with --trust-new-host to pin it`,
    );
  }
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await appendFile(file, `${hostPort} ${fingerprint}\n`, { mode: 0o600 });
  } catch (e) {
    throw fromFsError(e, `cannot write ${file}`);
  }
  log(`pinned the receiver at ${hostPort}: ${fingerprint} (in ${file})`);
}
