/** blockferry(1) in roff, from the same description as --help (reference.ts). */
import { allCommands, type CommandRef, type OptionRef } from "./reference.js";

/** Text to roff: backslashes escaped, no line read as a request. */
function text(s: string): string {
  return s
    .replace(/\\/g, "\\e")
    .split("\n")
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join("\n");
}

/** Flags bold and their arguments italic: "\fB\-o\fR, \fB\-\-output\fR \fI<file>\fR". */
function term(o: OptionRef): string {
  return o.term
    .split(/(, | )/)
    .map((part) => {
      if (part === ", " || part === " ") return part;
      const roff = text(part).replace(/-/g, "\\-");
      return part.startsWith("-") ? `\\fB${roff}\\fR` : `\\fI${roff}\\fR`;
    })
    .join("");
}

function options(list: OptionRef[]): string[] {
  return list.flatMap((o) => [".TP", term(o), text(o.description)]);
}

function command(c: CommandRef): string[] {
  return [`.SS "${text(c.path)} ${text(c.usage)}"`, text(c.description), ...options(c.options)];
}

export interface ManPageInfo {
  version: string;
  /** Lines of the EXIT STATUS section: [code, meaning]. */
  exitCodes: [number, string][];
}

export function manPage(root: CommandRef, info: ManPageInfo): string {
  const sub = allCommands(root).slice(1);
  const lines = [
    `.TH BLOCKFERRY 1 "" "blockferry ${text(info.version)}" "User Commands"`,
    ".SH NAME",
    `blockferry \\- ${text(root.description)}`,
    ".SH SYNOPSIS",
    `.B blockferry\n${text(root.usage)}`,
    ...sub.map((c) => `.br\n.B ${text(c.path)}\n${text(c.usage)}`),
    ".SH DESCRIPTION",
    text(root.description),
    "Each command takes \\fB\\-\\-help\\fR; this page lists the same options.",
    ".SH OPTIONS",
    ...options(root.options),
    ".SH COMMANDS",
    ...sub.flatMap(command),
    ".SH EXIT STATUS",
    ...info.exitCodes.flatMap(([code, meaning]) => [".TP", `\\fB${code}\\fR`, text(meaning)]),
    ".SH FILES",
    ".TP\n/usr/lib/blockferry\nthe installed program (the Debian package)",
    ".TP\n/usr/lib/systemd/system/blockferry\\-*.service, *.timer\nunits for the nightly job, the receiver and the morning status check (the Debian package)",
    ".SH SEE ALSO",
    "/usr/share/doc/blockferry/README.md",
  ];
  return `${lines.join("\n")}\n`;
}
