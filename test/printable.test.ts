import { describe, expect, it } from "vitest";
import { printable, quoted } from "../src/printable.js";

describe("printable: what a peer or a user names reaches a log or a terminal escaped", () => {
  it("escapes line breaks, escape sequences, C1 controls and bidi overrides", () => {
    expect(printable("pool\n2026-12-06 forged line")).toBe("pool\\n2026-12-06 forged line");
    expect(printable("\u001b[2J\u001b]0;title\u0007")).toBe("\\x1b[2J\\x1b]0;title\\x07");
    expect(printable("a\u009b31mb")).toBe("a\\x9b31mb");
    expect(printable("x\u202egnp.exe")).toBe("x\\u202egnp.exe");
    expect(printable("\r\t\u007f\u2028")).toBe("\\r\\t\\x7f\\u2028");
  });

  it("leaves ordinary text alone and keeps escapes unambiguous", () => {
    expect(printable("/dev/vg0/backuppc-copy é 名前")).toBe("/dev/vg0/backuppc-copy é 名前");
    expect(printable("a\\nb")).toBe("a\\\\nb");
    expect(quoted('say "hi"\n')).toBe('"say \\"hi\\"\\n"');
    expect(quoted(Buffer.from("dir/\u001bx"))).toBe('"dir/\\x1bx"');
  });
});
