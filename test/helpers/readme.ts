/**
 * The README's first part (everything above its `# Reference` heading) as the
 * commands it tells an administrator to type. Every ```sh block there is either
 * the install block (`<!-- install-proof:begin -->`, run word for word by
 * scripts/install-proof.sh in fresh Debian chroots) or a walk-through block
 * (`<!-- walkthrough:NAME -->`) whose every line is `primary# COMMAND` or
 * `secondary# COMMAND`, run in order by the guest scenario
 * test/guest/scenarios/readme.guest.ts. Anything else is an error, so that no
 * command can be added to the first part without a test running it.
 */

export interface Step {
  host: "primary" | "secondary";
  command: string;
  /** its line in README.md, from 1 */
  line: number;
}

export interface Walkthrough {
  /** the install block's commands */
  install: string[];
  /** the walk-through blocks, by name, in README order */
  blocks: Map<string, Step[]>;
}

const REFERENCE = /^# Reference\s*$/;
const MARK = /^<!-- (?:walkthrough:([a-z-]+)|(install-proof):begin) -->$/;
const PROMPT = /^(primary|secondary)#\s+(\S.*)$/;

export function readWalkthrough(readme: string): Walkthrough {
  const lines = readme.split("\n");
  const end = lines.findIndex((l) => REFERENCE.test(l));
  if (end < 0) throw new Error("README.md: no `# Reference` heading: where does its first part end?");
  const out: Walkthrough = { install: [], blocks: new Map() };
  let mark: RegExpExecArray | null = null;
  for (let i = 0; i < end; i++) {
    const line = lines[i] ?? "";
    if (!line.startsWith("```sh")) {
      if (line.trim() !== "") mark = MARK.exec(line);
      continue;
    }
    const close = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    const body = lines.slice(i + 1, close);
    if (mark?.[2] === "install-proof") out.install = body;
    else if (mark?.[1] !== undefined) out.blocks.set(mark[1], steps(body, i + 2, mark[1]));
    else throw new Error(`README.md:${i + 1}: a shell block in the first part that no test runs (mark it)`);
    i = close;
    mark = null;
  }
  return out;
}

function steps(body: string[], firstLine: number, name: string): Step[] {
  return body.map((text, k) => {
    const m = PROMPT.exec(text);
    if (m === null) {
      throw new Error(
        `README.md:${firstLine + k}: walk-through ${name}: expected "primary# …" or "secondary# …", got ${JSON.stringify(text)}`,
      );
    }
    return { host: m[1] as Step["host"], command: (m[2] ?? "").trim(), line: firstLine + k };
  });
}
