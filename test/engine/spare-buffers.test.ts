import { describe, expect, it } from "vitest";
import { SpareBuffers } from "../../src/engine/spare-buffers.js";

describe("spare buffers", () => {
  it("hand back a buffer of the length asked for, and keep no more than their limit", () => {
    let allocated = 0;
    const spares = new SpareBuffers((length) => {
      allocated++;
      return Buffer.alloc(length);
    }, 100);
    const a = spares.take(64);
    spares.give(a, 64);
    expect(spares.take(32)).not.toBe(a); // another length: a fresh one
    expect(spares.take(64)).toBe(a);
    expect(spares.take(64)).not.toBe(a); // taken already
    expect(allocated).toBe(3);
    const b = spares.take(64);
    spares.give(a, 64);
    spares.give(b, 64); // 128 bytes would pass the limit of 100: dropped
    expect(spares.take(64)).toBe(a);
    expect(spares.take(64)).not.toBe(b);
  });
});
