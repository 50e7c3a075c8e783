/**
 * Bash completion for blockferry, from the same description as --help
 * (reference.ts): commands after "blockferry", each command's options after
 * a "-", file names otherwise.
 */
import { allCommands, type CommandRef } from "./reference.js";

function words(list: string[]): string {
  return list.join(" ");
}

export function bashCompletion(root: CommandRef): string {
  const prefix = `${root.path} `;
  const cases = allCommands(root)
    .slice(1)
    .map((c) => `    "${c.path.slice(prefix.length)}") opts="${words(c.options.flatMap((o) => o.flags))}" ;;`);
  const top = words([
    ...root.commands.map((c) => c.path.slice(prefix.length)),
    ...root.options.flatMap((o) => o.flags),
  ]);
  return `# bash completion for blockferry (generated from its --help definitions)
_blockferry() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" opts i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $cmd in
    "") opts="${top}" ;;
${cases.join("\n")}
    *) return 0 ;;
  esac
  if [[ -z $cmd || $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  fi
}
complete -o default -F _blockferry blockferry
`;
}
