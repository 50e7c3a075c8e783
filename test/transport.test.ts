import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkAllowed, parseAllow } from "../src/transport/allow-list.js";
import { parseDestination } from "../src/transport/destination.js";
import { FINGERPRINT, generateHostKey } from "../src/transport/keys.js";
import { checkKnownHost } from "../src/transport/known-hosts.js";
import { shellQuote, splitCommand } from "../src/transport/ssh.js";
import { scratchDir } from "./helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("destinations", () => {
  it("tells local paths, tcp:// and ssh host:/path apart", () => {
    expect(parseDestination("/dev/vg/copy")).toEqual({ kind: "local", path: "/dev/vg/copy" });
    expect(parseDestination("./a:b")).toEqual({ kind: "local", path: "./a:b" });
    expect(parseDestination("backup@nas.lan:/srv/copy.img")).toEqual({
      kind: "ssh",
      host: "backup@nas.lan",
      path: "/srv/copy.img",
    });
    expect(parseDestination("tcp://10.0.0.2:7000/pool")).toMatchObject({ kind: "tcp", targetName: "pool" });
    expect(parseDestination("tcp://[fd00::2]:7000/pool")).toMatchObject({ endpoint: { host: "fd00::2" } });
  });

  it("refuses hosts ssh would read as options or a shell could expand", () => {
    for (const bad of [
      "-oProxyCommand=touch$IFS.x:/p",
      "user@-oProxyCommand=x:/p",
      "a;b:/p",
      "a$(x):/p",
      "host:relative/path",
      "tcp://a b:7000/pool",
    ]) {
      expect(() => parseDestination(bad), bad).toThrow(/DEST/);
    }
  });
});

describe("the ssh command line", () => {
  it("splits --rsh as a shell would, quotes included", () => {
    expect(splitCommand(`ssh -p 2222 -o "UserKnownHostsFile=/a b" -i '/k e y' x\\ y`)).toEqual([
      "ssh",
      "-p",
      "2222",
      "-o",
      "UserKnownHostsFile=/a b",
      "-i",
      "/k e y",
      "x y",
    ]);
    expect(() => splitCommand(`ssh "-p`)).toThrow(/balanced quotes/);
    expect(() => splitCommand("   ")).toThrow(/a command/);
  });

  it("quotes each remote argument so the remote shell gives it back unchanged", () => {
    for (const word of ["/dev/vg/lv", "it's", "a b", "$(rm -rf /)", "-x", "=cmd", "`x`", ""]) {
      const quoted = shellQuote(word);
      expect(splitCommand(`sh ${quoted}`)[1] ?? "", word).toBe(word);
      if (!["/dev/vg/lv", "-x"].includes(word)) expect(quoted.startsWith("'"), word).toBe(true);
    }
  });
});

describe("keys, allow lists and known hosts", () => {
  it("keygen makes certificates OpenSSL parses, every time", async () => {
    for (let i = 0; i < 300; i++) {
      const dir = join(scratch.dir, `k${i}`);
      const key = await generateHostKey(dir, "test", false);
      const cert = new X509Certificate(readFileSync(join(dir, "cert.pem")));
      expect(cert.checkPrivateKey(createPrivateKey(readFileSync(join(dir, "key.pem"))))).toBe(true);
      expect(key.fingerprint).toMatch(FINGERPRINT);
    }
  });

  it("parses allow entries and checks them per target", () => {
    const fp = `sha256:${"A".repeat(43)}`;
    const [key, names] = parseAllow(`${fp}=pool,etc`);
    const authorized = new Map([[key, names]]);
    expect(() => checkAllowed(authorized, fp, "pool")).not.toThrow();
    expect(() => checkAllowed(authorized, fp, "other")).toThrow(/may not write target "other"/);
    expect(() => checkAllowed(authorized, `sha256:${"B".repeat(43)}`, "pool")).toThrow(/not allowed here/);
    expect(() => parseAllow("sha256:short=pool")).toThrow(/--allow/);
    expect(() => parseAllow(`${fp}=../etc`)).toThrow(/--allow/);
  });

  it("known hosts: the pinned key passes, another is refused, a new one only with --trust-new-host", async () => {
    const file = join(scratch.dir, "known_hosts");
    const a = `sha256:${"a".repeat(43)}`;
    const b = `sha256:${"b".repeat(43)}`;
    const log: string[] = [];
    await expect(checkKnownHost(file, "h:1", a, false, (l) => log.push(l))).rejects.toThrow(/--trust-new-host/);
    await checkKnownHost(file, "h:1", a, true, (l) => log.push(l));
    expect(readFileSync(file, "utf8")).toBe(`h:1 ${a}\n`);
    await checkKnownHost(file, "h:1", a, false, () => {});
    await expect(checkKnownHost(file, "h:1", b, true, () => {})).rejects.toThrow(/pins sha256:a/);
    writeFileSync(file, `h:10 ${b}\n`); // another port is another receiver
    await expect(checkKnownHost(file, "h:1", a, false, () => {})).rejects.toThrow(/not in/);
  });
});
