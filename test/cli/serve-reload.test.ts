/**
 * The receiver (issue 21): a target name it does not have is reported as
 * unknown (exit 11) with the names the key may write; SIGHUP reloads its
 * targets file and allow list, keeps connections under way, and refuses a bad
 * configuration without dropping the one it has.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { hostKey, run, serversKilledAfterAll, start, startServer } from "../helpers/cli.js";
import { writeMixedImage } from "../helpers/engine.js";
import { scratchDir, sha256 } from "../helpers/files.js";
import { testSeed } from "../helpers/random.js";
import { waitFor } from "../helpers/wait.js";

const scratch = scratchDir();
const servers = serversKilledAfterAll();
afterAll(() => scratch.remove());

describe("serve", () => {
  it("reports a target name it does not have as unknown (exit 11), naming the targets this key may write", async () => {
    const a = join(scratch.dir, "a.img");
    const server = await startServer([
      "--target",
      `a=${a}`,
      "--target",
      `b=${join(scratch.dir, "b.img")}`,
      "--create",
      "--allow",
      `${hostKey.fingerprint}=a`,
      "--allow-file",
      "/dev/null",
    ]);
    servers.push(server);
    const source = join(scratch.dir, "u-src.img");
    writeMixedImage(source, 4 << 20, testSeed("unknown target"));
    const r = await run(["sync", "-q", source, `tcp://127.0.0.1:${server.port}/pool`]);
    expect(r.code, r.stderr).toBe(EXIT.unknownTarget);
    expect(r.stderr).toMatch(/no target named "pool" here; this key may write: a$/m);
    expect(r.stderr).not.toMatch(/\bb\b.*may write|may write: .*b/); // b exists, but not for this key
    const other = await run(["sync", "-q", source, `tcp://127.0.0.1:${server.port}/b`]);
    expect(other.code).toBe(EXIT.auth); // a target it has, that this key may not write
  });

  it("SIGHUP reloads the targets file and the allow list; a bad reload keeps the old; a sync under way goes on", async () => {
    const dir = scratch.dir;
    const targets = join(dir, "targets");
    const allow = join(dir, "allow");
    writeFileSync(targets, `# the receiver's targets\none=${join(dir, "one.img")}\n`);
    writeFileSync(allow, `${hostKey.fingerprint} one\n`);
    const server = await startServer(["--targets-file", targets, "--allow-file", allow, "--create"]);
    servers.push(server);
    const url = (name: string) => `tcp://127.0.0.1:${server.port}/${name}`;
    const source = join(dir, "r-src.img");
    writeMixedImage(source, 24 << 20, testSeed("reload"));
    expect((await run(["sync", "-q", source, url("two")])).code).toBe(EXIT.unknownTarget);

    // A slow sync into "one", under way while "one" is removed from the configuration.
    const slow = start(["sync", "-q", "--bwlimit", "4M", source, url("one")]);
    await waitFor(() => existsSync(join(dir, "one.img.blockferry-state.json")), "the sync into one to start", 400);
    writeFileSync(targets, `two=${join(dir, "two.img")}\n`);
    writeFileSync(allow, `${hostKey.fingerprint} one,two\n`);
    server.child.kill("SIGHUP");
    await waitFor(() => /reloaded: target two added .*; target one removed/.test(server.log()), "the reload");
    expect(server.log()).toMatch(/source key \S+ changed \(one -> one,two\)/);
    const two = await run(["sync", "-q", source, url("two")]);
    expect(two.code, two.stderr).toBe(EXIT.ok);
    expect(sha256(join(dir, "two.img"))).toBe(sha256(source));
    const kept = await slow.output();
    expect(kept.code, kept.stderr).toBe(EXIT.ok); // the connection under way kept its target
    expect(sha256(join(dir, "one.img"))).toBe(sha256(source));
    expect((await run(["sync", "-q", source, url("one")])).code).toBe(EXIT.unknownTarget);

    // Bad reloads: a line that is no NAME=PATH, a target in a directory that does not exist.
    for (const [bad, why] of [
      ["two two\n", /line 1/],
      [`two=${join(dir, "nowhere", "two.img")}\n`, /does not exist/],
    ] as const) {
      writeFileSync(targets, bad);
      const before = server.log().length;
      server.child.kill("SIGHUP");
      await waitFor(() => /reload refused/.test(server.log().slice(before)), "the refusal");
      expect(server.log().slice(before)).toMatch(why);
      const still = await run(["sync", "-q", source, url("two")]);
      expect(still.code, still.stderr).toBe(EXIT.ok);
    }
  });
});
