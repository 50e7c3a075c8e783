/**
 * The CLI as data, read from the commander program itself with commander's own
 * Help (the code that prints --help), so the man page and the bash completion
 * built from it list exactly what --help lists.
 */
import type { Command } from "commander";

export interface OptionRef {
  /** As --help shows them: "-o, --output <file>". */
  term: string;
  /** Every flag: ["-o", "--output"]. */
  flags: string[];
  /** With the default and choices, as --help shows it. */
  description: string;
}

export interface CommandRef {
  /** "blockferry sync". */
  path: string;
  /** "[options] <source> <destination>". */
  usage: string;
  description: string;
  options: OptionRef[];
  commands: CommandRef[];
}

export function describeCommand(cmd: Command, parent = ""): CommandRef {
  const help = cmd.createHelp();
  const path = parent === "" ? cmd.name() : `${parent} ${cmd.name()}`;
  return {
    path,
    usage: cmd.usage(),
    description: help.commandDescription(cmd),
    options: help.visibleOptions(cmd).map((o) => ({
      term: help.optionTerm(o),
      flags: [o.short, o.long].filter((f): f is string => f !== undefined),
      description: help.optionDescription(o),
    })),
    commands: help.visibleCommands(cmd).map((c) => describeCommand(c, path)),
  };
}

/** The command and its subcommands, depth first. */
export function allCommands(ref: CommandRef): CommandRef[] {
  return [ref, ...ref.commands.flatMap(allCommands)];
}
