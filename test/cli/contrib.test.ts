/**
 * contrib/ (issue 21): the systemd units are valid, use one port, say how
 * long a night may take, reload the receiver, and mail a failure.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../helpers/files.js";

const root = join(import.meta.dirname, "..", "..");
const units = join(root, "contrib", "systemd");
const scratch = scratchDir();
afterAll(() => scratch.remove());
const read = (name: string) => readFileSync(join(units, name), "utf8");
const hasAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

/** ExecStart= of a unit as systemd would run it for instance `instance`: lines joined, specifiers and $$ expanded. */
function execStart(text: string, instance: string): string[] {
  const joined = text.replace(/\\\n/g, " ");
  const line = /^ExecStart=(.*)$/m.exec(joined)?.[1] ?? "";
  const m = /^(\S+) (-c) '(.*)'$/.exec(line.trim());
  if (m === null) throw new Error(`unexpected ExecStart: ${line}`);
  const script = (m[3] as string)
    .replace(/%i/g, instance)
    .replace(/%%/g, "%")
    .replace(/\$\$/g, "$")
    .replace(/\\\\/g, "\\");
  return [m[1] as string, m[2] as string, script];
}

describe("contrib/systemd", () => {
  it.skipIf(!hasAnalyze)("every unit passes systemd-analyze verify", () => {
    const dir = join(scratch.dir, "units");
    cpSync(units, dir, { recursive: true });
    const files = readdirSync(dir).filter((f) => /\.(service|timer)$/.test(f));
    // blockferry need not be installed here: the check is of the units, not of the binary.
    for (const f of files) {
      writeFileSync(join(dir, f), readFileSync(join(dir, f), "utf8").replace(/\/usr\/bin\/blockferry/g, "/bin/true"));
    }
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", ...files.map((f) => `./${f}`)], {
      cwd: dir,
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/blockferry/);
  });

  it("one port everywhere; a time limit on the night; reload, descriptors and mail on failure", () => {
    const texts = [
      ...readdirSync(units).map(read),
      readFileSync(join(root, "README.md"), "utf8"),
      readFileSync(join(root, "contrib", "README.md"), "utf8"),
      readFileSync(join(root, "contrib", "nightly.toml"), "utf8"),
    ];
    const ports = new Set(
      texts.flatMap((t) => [...t.matchAll(/(?:tcp:\/\/[\w.-]+|--listen [\d.]+|dport) ?:?(\d{4,5})/g)].map((m) => m[1])),
    );
    expect([...ports]).toEqual(["7300"]);
    expect(read("blockferry-nightly.service")).toMatch(/^TimeoutStartSec=\S+/m);
    expect(read("blockferry-serve.service")).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    for (const u of ["blockferry-serve.service", "blockferry-nightly.service"])
      expect(read(u)).toMatch(/^LimitNOFILE=\d+$/m);
    for (const u of ["blockferry-serve.service", "blockferry-nightly.service", "blockferry-status.service"]) {
      expect(read(u)).toMatch(/^OnFailure=blockferry-notify@%n\.service$/m);
    }
  });

  it("blockferry-notify@ mails the failed unit's name with sendmail, or with mail, or fails saying neither is there", () => {
    const bin = join(scratch.dir, "bin");
    const mailbox = join(scratch.dir, "mailbox");
    mkdirSync(bin, { recursive: true });
    // systemctl and journalctl of a machine without systemd running: stand-ins that say who they are.
    for (const [name, body] of [
      ["systemctl", 'echo "status of $*"'],
      ["journalctl", 'echo "journal of $*"'],
      ["hostname", "echo backup1"],
    ] as const) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const [sh, c, script] = execStart(read("blockferry-notify@.service"), "blockferry-nightly.service");
    const env = { PATH: `${bin}:/usr/bin:/bin`, MAILTO: "admins@example.net" };
    const runIt = () => spawnSync(sh as string, [c as string, script as string], { env, encoding: "utf8" });

    writeFileSync(join(bin, "sendmail"), `#!/bin/sh\necho "sendmail $*" > ${mailbox}\n/bin/cat >> ${mailbox}\n`);
    chmodSync(join(bin, "sendmail"), 0o755);
    expect(runIt().status).toBe(0);
    const sent = readFileSync(mailbox, "utf8");
    expect(sent).toMatch(
      /^sendmail -t\nTo: admins@example\.net\nSubject: blockferry on backup1: blockferry-nightly\.service failed\n\n/,
    );
    expect(sent).toMatch(/status of .*blockferry-nightly\.service/);
    expect(sent).toMatch(/journal of -u blockferry-nightly\.service/);

    rmSync(join(bin, "sendmail"));
    rmSync(mailbox);
    writeFileSync(join(bin, "mail"), `#!/bin/sh\necho "mail $*" > ${mailbox}\n/bin/cat >> ${mailbox}\n`);
    chmodSync(join(bin, "mail"), 0o755);
    // Only the stand-ins' directory and sh: no system sendmail or mail can be found.
    env.PATH = bin;
    writeFileSync(join(bin, "sh"), readFileSync("/bin/sh"));
    expect(runIt().status).toBe(0);
    expect(readFileSync(mailbox, "utf8")).toMatch(
      /^mail -s blockferry on backup1: blockferry-nightly\.service failed admins@example\.net\n/,
    );

    rmSync(join(bin, "mail"));
    const none = runIt();
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/neither sendmail nor mail is installed; blockferry-nightly\.service failed/);
  });
});
