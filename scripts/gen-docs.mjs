// Writes the man page and the bash completion from the built CLI's own
// option definitions (dist/cli/docs/), so they list exactly what --help lists:
//   dist/share/man/man1/blockferry.1, dist/share/bash-completion/blockferry
import { mkdirSync, writeFileSync } from "node:fs";
import { version } from "../dist/build-info.js";
import { bashCompletion } from "../dist/cli/docs/completion.js";
import { manPage } from "../dist/cli/docs/manpage.js";
import { describeCommand } from "../dist/cli/docs/reference.js";
import { EXIT } from "../dist/cli/exit-codes.js";
import { program } from "../dist/cli/program.js";

const root = describeCommand(program);
// EXIT's names as words: "targetTooSmall" -> "target too small" (the README's table says more).
const exitCodes = Object.entries(EXIT).map(([name, code]) => [
  code,
  name.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`),
]);
mkdirSync("dist/share/man/man1", { recursive: true });
mkdirSync("dist/share/bash-completion", { recursive: true });
writeFileSync("dist/share/man/man1/blockferry.1", manPage(root, { version, exitCodes }));
writeFileSync("dist/share/bash-completion/blockferry", bashCompletion(root));
