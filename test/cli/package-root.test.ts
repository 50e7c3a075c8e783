import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot, packageRootFrom } from "../../src/package-root.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

function tree(name: string, packageName?: string): string {
  const root = join(scratch.dir, name);
  mkdirSync(join(root, "dist", "cli"), { recursive: true });
  if (packageName !== undefined) writeFileSync(join(root, "package.json"), JSON.stringify({ name: packageName }));
  return root;
}

describe("the package root", () => {
  it("is this checkout, from the sources", () => {
    expect(packageRoot).toBe(join(import.meta.dirname, "..", ".."));
  });

  it("is the nearest directory with blockferry's package.json, at any depth below it (the bundle sits in dist/cli)", () => {
    const root = tree("installed", "blockferry");
    expect(packageRootFrom(join(root, "dist", "cli"))).toBe(root);
    expect(packageRootFrom(join(root, "dist"))).toBe(root);
  });

  it("passes over another package's package.json, and without one is the directory above dist/", () => {
    const root = tree("copied", "something-else");
    // No blockferry package.json anywhere above: the fallback, not the other package's directory.
    expect(packageRootFrom(join(root, "dist", "cli"))).toBe(root);
    mkdirSync(join(root, "src", "native"), { recursive: true });
    expect(packageRootFrom(join(root, "src", "native"))).toBe(root);
  });
});
