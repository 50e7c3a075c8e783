import { describe, expect, it } from "vitest";
import { FailureLatch } from "../../src/engine/failure-latch.js";
import { Wakeup } from "../../src/engine/wakeup.js";
import { BlockferryError } from "../../src/errors.js";

describe("Wakeup and FailureLatch, shared by both roles", () => {
  it("wakes every waiter, not only the last one to wait", async () => {
    const w = new Wakeup();
    const woken: number[] = [];
    const waiters = [1, 2, 3].map((n) => w.wait().then(() => woken.push(n)));
    w.wake();
    await Promise.all(waiters);
    expect(woken.sort()).toEqual([1, 2, 3]);
  });

  it("a wait ends with the latch's failure, and the first failure is the one kept", async () => {
    const latch = new FailureLatch();
    const w = new Wakeup();
    const waiting = w.wait(latch.failed());
    latch.fail(new BlockferryError("E_PROTOCOL", "first"));
    latch.fail(new BlockferryError("E_NETWORK", "the broken pipe that follows"));
    await expect(waiting).rejects.toMatchObject({ code: "E_PROTOCOL", message: "first" });
    expect(latch.explain(new Error("later"))).toMatchObject({ code: "E_PROTOCOL" });
    expect(() => latch.throwIfFailed()).toThrow("first");
    latch.fail("not an error");
    expect(latch.failure?.message).toBe("first");
  });
});
