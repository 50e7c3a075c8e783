// The man page and the bash completion list exactly what --help lists: both are
// generated from the commander program, and checked here against the text
// `blockferry … --help` prints, so they cannot drift from it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bashCompletion } from "../../src/cli/docs/completion.js";
import { manPage } from "../../src/cli/docs/manpage.js";
import { describeCommand } from "../../src/cli/docs/reference.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { program } from "../../src/cli/program.js";
import { run } from "../helpers/cli.js";

const root = describeCommand(program);
const man = manPage(root, { version: "0.0.0", exitCodes: [[0, "ok"]] });
const dir = mkdtempSync(join(tmpdir(), "blockferry-docs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The flags and subcommands a --help text lists (option lines start "  -"). */
function parseHelp(text: string): { flags: string[]; commands: string[] } {
  const flags: string[] = [];
  const commands: string[] = [];
  let section = "";
  for (const line of text.split("\n")) {
    if (/^\S.*:$/.test(line)) section = line;
    const option = /^ {2}(-\S.*?)(?: {2,}|$)/.exec(line);
    if (option?.[1] !== undefined) flags.push(...(option[1].match(/(?<=^|[ ,])--?[\w-]+/g) ?? []));
    const command = /^ {2}([a-z][\w-]*)/.exec(line);
    if (section === "Commands:" && command?.[1] !== undefined) commands.push(command[1]);
  }
  return { flags, commands };
}

async function help(args: string[]): Promise<{ flags: string[]; commands: string[] }> {
  const r = await run([...args, "--help"]);
  expect(r.code).toBe(EXIT.ok);
  return parseHelp(r.stdout);
}

/** What the generated completion offers for `blockferry WORDS…` (the last word being completed). */
function complete(words: string[]): string[] {
  const script = join(dir, "completion.bash");
  writeFileSync(script, bashCompletion(root));
  const line = ["blockferry", ...words].map((w) => `'${w}'`).join(" ");
  const r = spawnSync(
    "bash",
    [
      "-c",
      `source ${script}; COMP_WORDS=(${line}); COMP_CWORD=${words.length}; _blockferry; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: "utf8" },
  );
  expect(r.status).toBe(0);
  return r.stdout.split("\n").filter((w) => w !== "");
}

/** The part of the man page about one command: its .SS heading up to the next. */
function manSection(command: string): string {
  const start = man.indexOf(`.SS "blockferry ${command} `);
  expect(start, `man page has no section for ${command}`).toBeGreaterThan(0);
  const end = man.indexOf("\n.S", start + 1);
  return man.slice(start, end);
}

const roffFlag = (flag: string): string => `\\fB${flag.replace(/-/g, "\\-")}\\fR`;

describe("the man page and bash completion, against --help", () => {
  it("list every command and top-level option --help lists, and no other", async () => {
    const top = await help([]);
    expect(top.commands.length).toBeGreaterThan(5);
    expect(root.commands.map((c) => c.path.split(" ")[1]).sort()).toEqual([...top.commands].sort());
    for (const flag of top.flags) expect(man.slice(0, man.indexOf(".SH COMMANDS"))).toContain(roffFlag(flag));
    expect(complete([""]).sort()).toEqual([...top.commands, ...top.flags].sort());
  });

  const commands = root.commands.map((c) => c.path.split(" ")[1] ?? "").filter((c) => c !== "help");
  it.each(commands)("list every option `%s --help` lists, in that command's section, and no other", async (command) => {
    const { flags } = await help([command]);
    expect(flags).toContain("--help");
    const section = manSection(command);
    for (const flag of flags) expect(section, flag).toContain(roffFlag(flag));
    const inMan = section.match(/(?<=\\fB)\\-(?:\\-)?[\w\\-]+(?=\\fR)/g) ?? [];
    expect(inMan.map((f) => f.replace(/\\-/g, "-")).sort()).toEqual([...flags].sort());
    expect(complete([command, "-"]).sort()).toEqual([...flags].sort());
  });

  it("offers no options for a command's arguments, so bash completes file names (-o default)", () => {
    expect(complete(["sync", "/tmp/di"])).toEqual([]);
    expect(complete(["sync", "--"])).toContain("--dry-run");
    expect(bashCompletion(root)).toContain("complete -o default -F _blockferry blockferry");
  });
});
