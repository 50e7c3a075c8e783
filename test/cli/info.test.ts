import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { scratchDir } from "../helpers/files.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());

function blockferry(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("blockferry info", () => {
  it("prints a volume's facts as JSON on stdout", () => {
    const path = join(scratch.dir, "info.img");
    writeFileSync(path, Buffer.alloc(12345, 1));
    const r = blockferry("info", "--json", path);
    expect(r.code).toBe(EXIT.ok);
    expect(JSON.parse(r.stdout)).toMatchObject({ path, size: 12345, isBlockDevice: false, writable: false });
  });

  it("exits with a distinct code for each class of failure", () => {
    const missing = blockferry("info", join(scratch.dir, "missing.img"));
    expect(missing.code).toBe(EXIT.notFound);
    expect(missing.stderr).toMatch(/No such file or directory/);
    expect(missing.stdout).toBe("");
    const notAVolume = blockferry("info", "/dev/null");
    expect(notAVolume.code).toBe(EXIT.unsupported);
    expect(notAVolume.stderr).toMatch(/neither a block device nor a regular file/);
    expect(blockferry("info").code).toBe(EXIT.usage); // missing argument
  });
});
