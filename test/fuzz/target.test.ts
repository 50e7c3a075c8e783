/**
 * runTarget, writing a real image file, against a hostile source: HELLO, then
 * a drawn script of plausible-but-random messages (source-script.ts). Every
 * run must end (no hang); fail with a protocol-class error or end normally;
 * never grow the image past the size HELLO declared, write anything beside
 * the image and the allowed directory, or mark a copy complete whose bytes
 * do not match the fingerprint it records.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { runTarget } from "../../src/engine/target.js";
import type { BlockferryError, ErrorCode } from "../../src/errors.js";
import { checkDirAllowed } from "../../src/job/targets.js";
import { openVolume } from "../../src/native/index.js";
import { codecs } from "../../src/protocol/codecs.js";
import { FrameChannel } from "../../src/protocol/frames.js";
import type { Hello } from "../../src/protocol/messages.js";
import { memoryPair } from "../../src/transport/memory.js";
import { snapshot } from "../dirsync/helpers.js";
import { MemoryStateStore } from "../helpers/engine.js";
import { scratchDir } from "../helpers/files.js";
import { budget, check, expectRefusal, printSummary, runs, within } from "./fuzz.js";
import { playSource, type SourceSetup } from "./hostile-source.js";
import { Inbox } from "./inbox.js";
import { mutate } from "./mutate.js";
import { type Action, script } from "./source-script.js";
import { fingerprintOf, helloOf, modeOf, priorState, type TargetCase, targetCase } from "./target-setup.js";

const scratch = scratchDir();
afterAll(() => {
  scratch.remove();
  printSummary();
});

/** How runs end: a protocol-class refusal, or E_VERIFY (a script that got to END with the wrong sum). */
const REFUSALS: ErrorCode[] = ["E_PROTOCOL", "E_CORRUPT", "E_VERSION", "E_NETWORK", "E_VERIFY", "E_TARGET_TOO_SMALL"];
/** A mutated HELLO may also name directories the receiver does not allow, or whose parent does not exist. */
const HELLO_REFUSALS: ErrorCode[] = [...REFUSALS, "E_ACCESS", "E_NOT_FOUND"];

/** The HELLO as the target read it (mutated or not); undefined if it could not read one. */
function declared(source: SourceSetup): Hello | undefined {
  const body = Buffer.concat(codecs.hello.encode(source.hello));
  try {
    return codecs.hello.decode(source.helloMutate ? mutate(body, source.helloMutate) : body);
  } catch {
    return undefined;
  }
}

/**
 * A case's directory: the image, and the one directory the receiver lets
 * sources place trees in (--allow-dir t=DIR), holding a file no tree may
 * touch (the script's symlinks point at it: "../outside").
 */
let serial = 0;
function caseDir(image: Buffer) {
  const dir = join(scratch.dir, `case-${++serial}`);
  const allowed = join(dir, "dirs");
  mkdirSync(join(allowed, "outside"), { recursive: true });
  writeFileSync(join(allowed, "outside", "keep"), "must stay");
  const imagePath = join(dir, "t.img");
  writeFileSync(imagePath, image);
  const config = {
    targets: new Map([["t", { name: "t", path: imagePath }]]),
    create: false,
    stateDir: join(dir, "state"),
    allowDirs: [{ name: "t", dir: allowed }],
    log: () => {},
  };
  return { dir, allowed, imagePath, checkDir: (dest: string) => checkDirAllowed(dest, "t", config) };
}

const outcomes: Record<string, number> = {};
let placed = 0;

async function attack(c: TargetCase, actions: Action[]): Promise<void> {
  const { dir, allowed, imagePath, checkDir } = caseDir(c.image);
  const outsideBefore = snapshot(join(allowed, "outside"));
  const state = new MemoryStateStore();
  const prior = await priorState(c);
  if (prior !== undefined) await state.save(prior);
  const before = state.saved.length;
  const dests = ["d0", "d1"].slice(0, c.dirs).map((d) => join(allowed, d));
  const source: SourceSetup = { hello: helloOf(c, dests, prior), helloMutate: c.helloMutate, image: c.image };
  const read = declared(source);

  const pair = memoryPair();
  const channel = new FrameChannel(pair.a);
  const inbox = new Inbox(channel);
  const target = runTarget({
    channel: new FrameChannel(pair.b),
    // As the receiver resolves a target: the directories named checked first, and again before each is placed.
    resolve: async (h) => {
      for (const d of h.dirs) await checkDir(d);
      const volume = await openVolume(imagePath, { write: true });
      return { volume, state, identity: "t", describe: "t", stamp: async () => "t", checkDir };
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const played = playSource(channel, inbox, source, actions);
  const error = await within(30_000, "runTarget", target);
  pair.a.destroy(); // a script still sending into a target that stopped reading
  await within(10_000, "the source script", played);
  await inbox.finished;

  // The image: never past the size HELLO declared (nor its own), never changed by a dry run.
  expect(statSync(imagePath).size).toBeLessThanOrEqual(Math.max(c.image.length, read?.sourceSize ?? 0));
  const saved = state.saved.slice(before);
  if (read?.flags.dryRun) {
    expect(saved).toHaveLength(0);
    expect(readFileSync(imagePath).equals(c.image)).toBe(true);
  }
  if (error !== undefined) {
    expectRefusal(error, c.helloMutate ? HELLO_REFUSALS : REFUSALS);
    // A failed run marks nothing complete, unless the copy was confirmed (DONE) and the directories failed.
    if (inbox.done?.verified !== true) expect(saved.every((s) => !s.complete)).toBe(true);
  }
  // Whatever is recorded complete is what the image holds.
  const last = saved.at(-1);
  if (last?.complete) {
    expect(last.verified).toBe(true);
    const { sourceSize, blockSize } = read as Hello;
    expect(sourceSize).toBe(c.sourceSize);
    const blocks = Math.ceil(sourceSize / blockSize);
    const data = Buffer.alloc(sourceSize);
    readFileSync(imagePath).copy(data);
    expect((await fingerprintOf(data, blockSize, BigInt(last.seed), blocks)).toString("hex")).toBe(last.fingerprint);
  }
  // Nothing written beside the image and the allowed directory, nothing through a symlink planted
  // in a tree, no staging left behind.
  expect(snapshot(join(allowed, "outside"))).toEqual(outsideBefore);
  expect(readdirSync(dir).sort()).toEqual(["dirs", "t.img"]);
  expect(readdirSync(allowed).filter((n) => n.includes(".blockferry-"))).toEqual([]);
  rmSync(dir, { recursive: true, force: true });

  const w = inbox.welcome;
  const mode =
    w === undefined ? "refused" : w.cached ? "cached" : w.compare ? "compare" : w.resumeBlock > 0 ? "resume" : "copy";
  const outcome = `${mode} ${error === undefined ? "ok" : (error as BlockferryError).code}`;
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  placed += inbox.dirDones;
}

describe("a target against a fuzzed hostile source", () => {
  it(
    "ends, refuses with a protocol-class error or completes truthfully, and writes only its image and directories",
    async () => {
      const cases = targetCase.chain((c) => fc.tuple(fc.constant(c), script(modeOf(c))));
      await check(
        "target vs hostile source",
        fc.asyncProperty(cases, ([c, actions]) => attack(c, actions)),
        runs(1000),
      );
      // How far the scripts got, by the target's mode: mostly refusals, some complete copies, trees placed.
      const table = Object.entries(outcomes).sort(([a], [b]) => a.localeCompare(b));
      console.log(`[fuzz] target outcomes: ${table.map(([k, n]) => `${k} ${n}`).join(", ")}; trees placed: ${placed}`);
    },
    budget(60_000),
  );
});
