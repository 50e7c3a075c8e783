/**
 * The README's first part is what an administrator follows: every command in
 * it must be one a test runs. Its walk-through blocks run in the guest tier
 * (test/guest/scenarios/readme.guest.ts, which runs them all, in order), its
 * install block in scripts/install-proof.sh. This checks the structure on
 * every `npm test`: no unmarked block, no line without its host.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readWalkthrough } from "../helpers/readme.js";

const root = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const scenario = readFileSync(join(root, "test", "guest", "scenarios", "readme.guest.ts"), "utf8");

describe("the README's first part", () => {
  it("holds only the install block and walk-through blocks, each line with its host", () => {
    const w = readWalkthrough(readme);
    expect(w.install).toEqual(["apt-get update", "apt-get install ./blockferry_*_amd64.deb", "blockferry --version"]);
    expect([...w.blocks.keys()]).toEqual(["quick-start", "night", "monitoring", "failover", "failback"]);
    for (const steps of w.blocks.values()) expect(steps.length).toBeGreaterThan(0);
  });

  it("the guest scenario runs every walk-through block", () => {
    for (const name of readWalkthrough(readme).blocks.keys()) expect(scenario).toContain(`walk("${name}"`);
  });

  it("refuses a shell block that nothing runs, and a line without a host", () => {
    const top = "# blockferry\n\n```sh\nblockferry sync a b\n```\n\n# Reference\n";
    expect(() => readWalkthrough(top)).toThrow(/README.md:3: a shell block in the first part that no test runs/);
    const bare = "<!-- walkthrough:x -->\n```sh\nprimary# ok\nblockferry sync a b\n```\n# Reference\n";
    expect(() => readWalkthrough(bare)).toThrow(/README.md:4: walk-through x: expected "primary# …"/);
    expect(() => readWalkthrough("no reference")).toThrow(/no `# Reference` heading/);
    const below = "# x\n# Reference\n```sh\nanything\n```\n";
    expect(readWalkthrough(below).blocks.size).toBe(0);
  });
});
