/**
 * --insecure-plaintext against a man in the middle who relays the shared-
 * secret handshake (which he cannot answer) and then works on the frames
 * (test/helpers/mitm.ts). Whatever he changes, replays or cuts, the copy
 * must end refused: a non-zero exit, no "verified" on either side, no target
 * marked complete, and nothing written where the source did not ask. A relay
 * that changes nothing must still give a verified copy (so the refusals come
 * from the records, not from a broken relay).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../src/cli/exit-codes.js";
import { Fingerprint } from "../src/engine/fingerprint.js";
import { BlockKind, DIGEST_SIZE, digestBlocks, foldDigests } from "../src/native/index.js";
import { codecs } from "../src/protocol/codecs.js";
import { MessageType } from "../src/protocol/messages.js";
import { run, startServer } from "./helpers/cli.js";
import { writeMixedImage } from "./helpers/engine.js";
import { scratchDir, sha256 } from "./helpers/files.js";
import { type Attack, type Direction, type Frame, startMitm, type Verdict } from "./helpers/mitm.js";
import { seededBytes, testSeed } from "./helpers/random.js";

const scratch = scratchDir();
const servers: Array<{ child: import("node:child_process").ChildProcess }> = [];
afterAll(() => {
  for (const s of servers) s.child.kill("SIGKILL");
  scratch.remove();
});

const MiB = 1024 * 1024;
const SIZE = 40 * MiB;

async function setUp(name: string) {
  const seed = testSeed(`mitm ${name}`);
  const dir = join(scratch.dir, name);
  const source = join(dir, "src.img");
  const backup = join(dir, "backup.img");
  const other = join(dir, "other.img");
  const secret = join(dir, "secret");
  const stateDir = join(dir, "state");
  await import("node:fs/promises").then((fs) => fs.mkdir(dir, { recursive: true }));
  // Past two checkpoints (16 MiB each, the least there is): ACKs go back as the copy goes, for the attacks to work on.
  writeMixedImage(source, SIZE, seed);
  writeFileSync(backup, seededBytes(SIZE, seed + 1));
  writeFileSync(other, seededBytes(SIZE, seed + 2));
  writeFileSync(secret, "correct horse battery staple\n");
  const plain = ["--insecure-plaintext", "--secret-file", secret];
  const server = await startServer([
    ...plain,
    "--state-dir",
    stateDir,
    "--checkpoint",
    "16M",
    "--target",
    `backup=${backup}`,
    "--target",
    `other=${other}`,
  ]);
  servers.push(server);
  const before = { backup: sha256(backup), other: sha256(other) };
  /** One sync through a man in the middle doing `attack`. */
  const through = async (attack: Attack, target = "backup") => {
    const mitm = await startMitm(server.port, attack);
    const logBefore = server.log().length;
    const r = await run(["sync", ...plain, "--json", source, `tcp://127.0.0.1:${mitm.port}/${target}`]);
    await mitm.close();
    const status = async (path: string) => (await run(["status", "--state-dir", stateDir, path])).code;
    return { ...r, seen: mitm.seen, serverLog: () => server.log().slice(logBefore), status };
  };
  return { source, backup, other, before, server, through };
}

type Through = Awaited<ReturnType<Awaited<ReturnType<typeof setUp>>["through"]>>;

/** A refusal: non-zero exit, "verified" nowhere, neither target complete. */
async function expectRefused(r: Through, paths: string[]) {
  expect(r.code, r.stderr).not.toBe(EXIT.ok);
  expect(r.stdout).not.toMatch(/"verified":\s*true/);
  expect(r.stderr).not.toMatch(/verified/);
  // Give the receiver a moment to log how the connection ended; it must not be "verified".
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(r.serverLog()).not.toMatch(/complete and verified/);
  for (const path of paths) expect(await r.status(path), path).not.toBe(EXIT.ok);
}

/**
 * Changes one byte of the first whole raw block and fixes every fingerprint
 * that would show it: END's (to the receiver), ACKs' and DONE's (to the
 * source). The seed and the fingerprint's sum are in the clear, so this is
 * arithmetic, not a guess.
 */
function flipAndFix(): Attack {
  let blockSize = 0;
  let seed = 0n;
  let changed: { block: number; delta: Buffer } | undefined;
  const shifted = (fingerprint: Buffer, sign: 1 | -1) => {
    const f = new Fingerprint(fingerprint);
    if (sign > 0) f.add(changed?.delta ?? Buffer.alloc(DIGEST_SIZE));
    else f.subtract(changed?.delta ?? Buffer.alloc(DIGEST_SIZE));
    return f.toBuffer();
  };
  const contribution = async (bytes: Buffer, block: number) => {
    const { digests } = await digestBlocks(bytes, blockSize, seed);
    return foldDigests(Buffer.alloc(DIGEST_SIZE), digests, 1, block, seed);
  };
  return {
    frame: async (dir: Direction, { type, body }: Frame): Promise<Verdict> => {
      if (type === MessageType.hello) blockSize = codecs.hello.decode(body).blockSize;
      if (type === MessageType.welcome) seed = codecs.welcome.decode(body).seed;
      if (type === MessageType.blocks && changed === undefined) {
        const first = Number(body.readBigUInt64BE(0));
        const count = body.readUInt32BE(8);
        let at = 12 + 5 * count;
        for (let i = 0; i < count; i++) {
          const size = body.readUInt32BE(12 + count + 4 * i);
          if (body[12 + i] === BlockKind.raw && size === blockSize) {
            const original = Buffer.from(body.subarray(at, at + size));
            const altered = Buffer.from(original);
            altered[100] = (altered[100] as number) ^ 0x20;
            const delta = new Fingerprint(await contribution(altered, first + i));
            delta.subtract(await contribution(original, first + i));
            changed = { block: first + i, delta: delta.toBuffer() };
            const out = Buffer.from(body);
            altered.copy(out, at);
            return { body: out };
          }
          at += size;
        }
      }
      if (changed === undefined) return undefined;
      if (dir === "toReceiver" && type === MessageType.end) {
        const end = codecs.end.decode(body);
        return { body: Buffer.concat(codecs.end.encode({ ...end, fingerprint: shifted(end.fingerprint, 1) })) };
      }
      if (type === MessageType.ack) {
        const ack = codecs.ack.decode(body);
        if (ack.blocksDone <= changed.block) return undefined;
        return { body: Buffer.concat(codecs.ack.encode({ ...ack, fingerprint: shifted(ack.fingerprint, -1) })) };
      }
      if (type === MessageType.done) {
        const done = codecs.done.decode(body);
        return { body: Buffer.concat(codecs.done.encode({ ...done, fingerprint: shifted(done.fingerprint, -1) })) };
      }
      return undefined;
    },
  };
}

describe("--insecure-plaintext against a man in the middle", () => {
  let s: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    s = await setUp("attacks");
  });

  it("refuses a HELLO that names another target: nothing written to either", async () => {
    const renamed = await s.through({
      frame: (dir, f) => {
        if (dir !== "toReceiver" || f.type !== MessageType.hello) return undefined;
        const hello = codecs.hello.decode(f.body);
        return { body: Buffer.concat(codecs.hello.encode({ ...hello, targetName: "other" })) };
      },
    });
    await expectRefused(renamed, [s.backup, s.other]);
    expect(sha256(s.backup)).toBe(s.before.backup);
    expect(sha256(s.other)).toBe(s.before.other);
    expect(renamed.serverLog()).toMatch(/refused or failed: E_AUTH: record 0 failed its check/);
  }, 60_000);

  it("refuses a block changed with END, the ACKs and DONE fixed to agree with it", async () => {
    const flipped = await s.through(flipAndFix());
    await expectRefused(flipped, [s.backup]);
    expect(flipped.seen.toReceiver).toContain(MessageType.blocks);
    expect(flipped.serverLog()).toMatch(/refused or failed: E_AUTH: record \d+ failed its check/);
  }, 60_000);

  it("refuses the first ACK (in records, the record that carried it) sent to the source twice", async () => {
    let acks = 0;
    const replayed = await s.through({
      frame: (dir, f) => (dir === "toSource" && f.type === MessageType.ack && acks++ === 0 ? "replay" : undefined),
    });
    expect(acks).toBeGreaterThan(0);
    await expectRefused(replayed, [s.backup]);
    expect(replayed.code).toBe(EXIT.auth);
    expect(replayed.stderr).toMatch(/record \d+ failed its check/);
  }, 60_000);

  it("refuses a stream to the receiver ended (FIN, no reset) after 3 MiB", async () => {
    const cut = await s.through({ cutToReceiverAfter: 3 * MiB });
    await expectRefused(cut, [s.backup]);
    expect(cut.code).toBe(EXIT.network);
  }, 60_000);

  it("verifies a copy through the same relay when it changes nothing", async () => {
    const faithful = await s.through({});
    expect(faithful.code, faithful.stderr).toBe(EXIT.ok);
    expect(JSON.parse(faithful.stdout)).toMatchObject({ verified: true });
    expect(sha256(s.backup)).toBe(sha256(s.source));
    expect(sha256(s.other)).toBe(s.before.other);
  }, 60_000);
});
