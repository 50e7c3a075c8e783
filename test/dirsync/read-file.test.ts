import { appendFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkUnchanged, openSeen, readExactly } from "../../src/dirsync/read-file.js";
import { BlockferryError } from "../../src/errors.js";
import { scratchDir } from "../helpers/files.js";
import { seededBytes, testSeed } from "../helpers/random.js";

const scratch = scratchDir();
afterAll(() => scratch.remove());
const MiB = 1024 * 1024;

async function collect(chunks: AsyncGenerator<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(BlockferryError);
  expect((e as BlockferryError).message).toMatch(message);
}

describe("reading a file for DIR_DATA", () => {
  const path = Buffer.from(join(scratch.dir, "f"));
  const content = seededBytes(3 * MiB + 5, testSeed("dirsync read-file"));

  it("yields exactly the declared size in chunks of at most 1 MiB", async () => {
    writeFileSync(path, content);
    const opened = await openSeen(path, await lstat(path, { bigint: true }));
    if (opened === undefined) throw new Error("not opened");
    const chunks = await collect(readExactly(opened.handle, content.length, path));
    expect(chunks.map((c) => c.length)).toEqual([MiB, MiB, MiB, 5]);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    await checkUnchanged(opened, path);
    await opened.handle.close();
  });

  it("fails clearly when the file grew or shrank while being read", async () => {
    writeFileSync(path, content);
    const opened = await openSeen(path, await lstat(path, { bigint: true }));
    if (opened === undefined) throw new Error("not opened");
    await rejects(collect(readExactly(opened.handle, content.length - 1, path)), /changed while being sent.*more now/);
    await rejects(
      collect(readExactly(opened.handle, content.length + 1, path)),
      /changed while being sent.*3145733 now/,
    );
    appendFileSync(path, "more");
    await rejects(checkUnchanged(opened, path), /3145733 bytes when opened, 3145737 now/);
    await opened.handle.close();
  });

  it("refuses a file swapped for a symlink or another file since the walk saw it", async () => {
    writeFileSync(path, "first");
    const seen = await lstat(path, { bigint: true });
    const other = join(scratch.dir, "other");
    writeFileSync(other, "second");
    renameSync(other, path);
    await rejects(openSeen(path, seen), /changed while being sent \(replaced\)/);
    const link = Buffer.from(join(scratch.dir, "link"));
    symlinkSync(path, link);
    await rejects(openSeen(link, seen), /opening .*link/);
    unlinkSync(path);
    expect(await openSeen(path, seen)).toBeUndefined();
  });
});
