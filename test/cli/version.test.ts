import { describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { run } from "../helpers/cli.js";

const missing = { BLOCKFERRY_ADDON: "/nonexistent/blockferry.node" };

describe("blockferry --version", () => {
  it("names the version, the commit, Node.js and the libraries the addon loaded", async () => {
    const r = await run(["--version"]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^blockferry \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-modified)?|unknown)\)\n/);
    expect(r.stdout).toContain(`Node.js ${process.version}\n`);
    expect(r.stdout).toMatch(/addon loaded from .*blockferry\.node\nliblz4 \d+\.\d+\.\d+, libxxhash \d+\.\d+\.\d+\n$/);
  });

  it("still answers without the addon, saying it did not load", async () => {
    const r = await run(["--version"], missing);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^blockferry \d+\.\d+\.\d+ /);
    expect(r.stdout).toContain("addon NOT loaded: /nonexistent/blockferry.node does not exist");
  });
});

describe("a missing addon", () => {
  it("is two lines saying what is missing and how to reinstall, never a stack trace", async () => {
    const r = await run(["sync", "a.img", "b.img"], missing);
    expect(r.code).toBe(EXIT.unsupported);
    expect(r.stderr).toBe(
      "blockferry: the native addon could not be loaded: /nonexistent/blockferry.node does not exist\n" +
        "blockferry: reinstall blockferry (see the README's Install section), or in a checkout run: npm ci\n",
    );
  });
});
