/**
 * `blockferry serve` under a flood of idle connections: 1100 sockets from
 * 127.0.0.2, each opened again a second after the receiver closes it, while
 * a source at 127.0.0.1 syncs. The receiver runs with 1024 descriptors, as a
 * service does by default, so holding every idle socket would leave none for
 * the source or its target. Also: an idle connection is closed by the
 * deadline, in TLS and in plaintext mode.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../src/cli/exit-codes.js";
import { run, startServer } from "./helpers/cli.js";
import { writeMixedImage } from "./helpers/engine.js";
import { scratchDir, sha256 } from "./helpers/files.js";
import { seededBytes, testSeed } from "./helpers/random.js";

const scratch = scratchDir();
const servers: Array<{ child: import("node:child_process").ChildProcess }> = [];
afterAll(() => {
  for (const s of servers) s.child.kill("SIGKILL");
  scratch.remove();
});

/** `count` idle connections from `from`, each opened again `againMs` after it closes, until stop(). */
function flood(port: number, from: string, count: number, againMs: number) {
  let stopped = false;
  const sockets = new Set<Socket>();
  const stats = { connected: 0, closed: 0 };
  const open = () => {
    if (stopped) return;
    const s = connect({ host: "127.0.0.1", port, localAddress: from });
    sockets.add(s);
    s.on("error", () => {});
    s.resume();
    s.on("connect", () => stats.connected++);
    s.on("close", () => {
      stats.closed++;
      sockets.delete(s);
      setTimeout(open, againMs);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    stats,
    held: () => [...sockets].filter((s) => !s.connecting && !s.destroyed).length,
    stop: () => {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

/** Connects from 127.0.0.2 and says how many ms later the receiver hung up (or gives up after `limitMs`). */
function hangUpAfter(port: number, limitMs: number): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
    s.on("error", () => {});
    s.resume();
    const giveUp = setTimeout(() => s.destroy(), limitMs);
    s.on("close", () => {
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
  });
}

describe("a receiver flooded with idle connections", () => {
  it("still serves a source at another address, three times out of three, and keeps its log short", async () => {
    const seed = testSeed("idle flood");
    const source = join(scratch.dir, "flood-src.img");
    const target = join(scratch.dir, "flood-dst.img");
    writeMixedImage(source, 16 * 1024 * 1024, seed);
    writeFileSync(target, seededBytes(16 * 1024 * 1024, seed + 1));
    const stateDir = join(scratch.dir, "flood-state");
    const server = await startServer(["--state-dir", stateDir, "--target", `pool=${target}`]);
    servers.push(server);
    execFileSync("prlimit", ["--pid", String(server.child.pid), "--nofile=1024:1024"]);
    const attack = flood(server.port, "127.0.0.2", 1100, 1000);
    try {
      for (let i = 0; i < 20 && attack.stats.connected < 1100; i++) await new Promise((r) => setTimeout(r, 100));
      for (let round = 0; round < 3; round++) {
        writeFileSync(target, seededBytes(16 * 1024 * 1024, seed + 2 + round)); // each round copies again
        const r = await run(["sync", "--json", "--no-cache", "--force", source, `tcp://127.0.0.1:${server.port}/pool`]);
        expect(r.code, r.stderr).toBe(EXIT.ok);
        expect(JSON.parse(r.stdout)).toMatchObject({ verified: true });
        expect(sha256(target)).toBe(sha256(source));
      }
    } finally {
      attack.stop();
    }
    expect(attack.stats.connected).toBeGreaterThanOrEqual(1100);
    expect(attack.stats.closed).toBeGreaterThan(1000); // turned away, not held
    const refusals = server.log().match(/127\.0\.0\.2:\d+: refused: /g) ?? [];
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThanOrEqual(20); // the rest counted, in one line a minute
    expect(server.child.exitCode).toBeNull();
  }, 180_000);
});

describe("the deadline to authenticate", () => {
  it("closes an idle connection after it, in TLS and in plaintext mode", async () => {
    const secret = join(scratch.dir, "secret");
    writeFileSync(secret, "correct horse battery staple\n");
    const target = join(scratch.dir, "deadline.img");
    writeFileSync(target, Buffer.alloc(1024 * 1024));
    const env = { BLOCKFERRY_HANDSHAKE_MS: "1000" };
    const tls = await startServer(["--target", `t=${target}`], undefined, env);
    const plain = await startServer(
      ["--insecure-plaintext", "--secret-file", secret, "--target", `t=${target}`],
      undefined,
      env,
    );
    servers.push(tls, plain);
    for (const server of [tls, plain]) {
      const after = await hangUpAfter(server.port, 6000);
      expect(after).toBeGreaterThanOrEqual(900);
      expect(after).toBeLessThan(6000);
      const logged = /127\.0\.0\.2:\d+: refused: not authenticated within 1 s/;
      for (let i = 0; i < 40 && !logged.test(server.log()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(server.log()).toMatch(logged);
    }
  }, 60_000);
});
