/**
 * The frame reader's chunk source: each chunk as the stream gave it (the
 * stream's async iterator joined whatever was buffered into a new buffer, a
 * copy of every byte received while the reader was behind), the stream paused
 * while 1 MiB or more waits, its end and its failure passed on.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { StreamChunks } from "../src/protocol/stream-chunks.js";

describe("StreamChunks", () => {
  it("gives back the very buffers written, one at a time, even when several wait", async () => {
    const stream = new PassThrough();
    const chunks = new StreamChunks(stream);
    const written = [Buffer.alloc(100, 1), Buffer.alloc(200, 2), Buffer.alloc(300, 3)];
    for (const b of written) stream.write(b);
    await new Promise((resolve) => setImmediate(resolve));
    for (const b of written) {
      const got = await chunks.next();
      expect(got?.buffer).toBe(b.buffer);
      expect(got?.length).toBe(b.length);
    }
  });

  it("pauses the stream while 1 MiB waits and resumes it once taken", async () => {
    const stream = new PassThrough({ highWaterMark: 64 * 1024 });
    const chunks = new StreamChunks(stream);
    const sent: boolean[] = [];
    for (let i = 0; i < 24; i++) sent.push(stream.write(Buffer.alloc(64 * 1024, i)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.isPaused()).toBe(true);
    // The writer feels it: the stream's own buffer fills behind the pause.
    expect(sent.at(-1)).toBe(false);
    let bytes = 0;
    for (let i = 0; i < 24; i++) {
      const chunk = await chunks.next();
      expect(chunk?.[0]).toBe(i);
      bytes += chunk?.length ?? 0;
    }
    expect(bytes).toBe(24 * 64 * 1024);
    expect(stream.isPaused()).toBe(false);
  });

  it("ends after the last chunk; a failure is thrown once the chunks before it are taken", async () => {
    const ending = new PassThrough();
    const a = new StreamChunks(ending);
    ending.end(Buffer.from("last"));
    expect((await a.next())?.toString()).toBe("last");
    expect(await a.next()).toBeUndefined();

    const failing = new PassThrough();
    failing.on("error", () => {});
    const b = new StreamChunks(failing);
    failing.write(Buffer.from("before"));
    await new Promise((resolve) => setImmediate(resolve));
    failing.destroy(new Error("reset by peer"));
    expect((await b.next())?.toString()).toBe("before");
    await expect(b.next()).rejects.toThrow("reset by peer");

    const closed = new PassThrough();
    const c = new StreamChunks(closed);
    const waiting = c.next();
    closed.destroy();
    await expect(waiting).rejects.toThrow("premature close");
  });

  it("a stream ended, destroyed or paused before it was handed over: its end, its failure, its data", async () => {
    const ended = new PassThrough();
    ended.resume();
    ended.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended.readableEnded).toBe(true);
    expect(await new StreamChunks(ended).next()).toBeUndefined();

    const failed = new PassThrough();
    failed.on("error", () => {});
    failed.destroy(new Error("reset by peer"));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(new StreamChunks(failed).next()).rejects.toThrow("reset by peer");

    const paused = new PassThrough();
    paused.pause();
    paused.write(Buffer.from("waiting"));
    expect((await new StreamChunks(paused).next())?.toString()).toBe("waiting");
  });

  it("drops what is queued when its owner gives up: the reader gets the failure, not old data", async () => {
    const stream = new PassThrough();
    stream.on("error", () => {});
    const chunks = new StreamChunks(stream);
    stream.write(Buffer.from("queued"));
    await new Promise((resolve) => setImmediate(resolve));
    chunks.drop();
    stream.destroy(new Error("given up"));
    await expect(chunks.next()).rejects.toThrow("given up");
  });
});
