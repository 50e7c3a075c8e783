/**
 * Whether `status` calls a standby usable when the volume's own record does
 * not vouch for it: a kept good copy stands in only while the volume holds an
 * unfinished sync (what `promote` restores); after a completed sync it is an
 * earlier generation left over, which `promote` would not use.
 */
import { describe, expect, it } from "vitest";
import { describeStatus } from "../../src/cli/status-describe.js";
import { judge, usableAge } from "../../src/cli/status-judge.js";
import type { TargetStatus } from "../../src/job/status.js";

const lastSync = (at: string, generation: number) => ({
  at,
  sourceId: "host:/dev/vg/data",
  generation,
  mode: "compare" as const,
  seconds: 3,
  bytesIn: 100,
  bytesOut: 10,
  reread: false,
});

function status(over: Partial<TargetStatus>): TargetStatus {
  return {
    target: "/srv/copy.img",
    stateFile: "/srv/copy.img.blockferry-state.json",
    complete: true,
    interrupted: false,
    generation: 2,
    lastSync: lastSync(new Date(Date.now() - 3600_000).toISOString(), 2),
    dirs: [],
    ageSeconds: 3600,
    runningPid: undefined,
    writtenSince: "no",
    good: undefined,
    lostGood: undefined,
    promotedAt: undefined,
    ...over,
  };
}

const kept = {
  method: "reflink",
  where: "/srv/copy.img.blockferry-good",
  generation: 1,
  lastSync: lastSync(new Date(Date.now() - 90_000_000).toISOString(), 1),
};

describe("status: a kept good copy serves only for an unfinished sync", () => {
  it("an unfinished sync with a kept copy: usable, the kept copy's age, promote named", () => {
    const s = status({ complete: false, interrupted: true, good: kept });
    expect(judge(s, undefined)).toBeUndefined();
    expect(usableAge(s)).toBeGreaterThan(89_000);
    expect(describeStatus(s)).toMatch(/`blockferry promote` makes it the volume/);
  });

  it("a completed sync written since, with an earlier generation left on record: not usable", () => {
    const s = status({ writtenSince: "yes", good: kept });
    expect(judge(s, undefined)?.code).toBe("E_INCOMPLETE");
    expect(judge(s, undefined)?.message).toMatch(/the next sync reads it to check/);
    expect(usableAge(s)).toBeUndefined();
    const text = describeStatus(s);
    expect(text).not.toMatch(/promote/);
    expect(text).toMatch(/an earlier generation, left when its removal did not finish/);
  });

  it("a completed, unwritten sync with a leftover copy that is gone: usable, not called LOST", () => {
    const s = status({ good: { ...kept, lost: "its clone is gone" } });
    expect(judge(s, undefined)).toBeUndefined();
    expect(describeStatus(s)).not.toMatch(/LOST/);
  });
});
