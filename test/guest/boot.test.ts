/** When the guest tier boots the guest again: only when QEMU itself died before the guest was up. */
import { describe, expect, it } from "vitest";
import { diedBooting } from "./qemu.js";

describe("diedBooting", () => {
  const up = "SeaBIOS\nguest: up after 6.83 s, kernel 6.1.0-57-amd64, 2.03.16(2) lvm2\n";
  it("is true for a QEMU killed by a signal before the guest said it was up (its segfault, 2026-12-08)", () => {
    expect(diedBooting({ code: null, timedOut: false }, "SeaBIOS (version 1.16.2)\nBooting from ROM...\n")).toBe(true);
  });
  it("is false once the guest was up, at our timeout, or for any exit code", () => {
    expect(diedBooting({ code: null, timedOut: false }, up)).toBe(false);
    expect(diedBooting({ code: null, timedOut: true }, "Booting from ROM...")).toBe(false);
    expect(diedBooting({ code: 1, timedOut: false }, "Booting from ROM...")).toBe(false);
    expect(diedBooting({ code: 0, timedOut: false }, "")).toBe(false);
  });
});
