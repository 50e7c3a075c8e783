/**
 * Whether `status` calls a standby usable when the volume's own record does
 * not vouch for it: a kept good copy stands in only while the volume holds an
 * unfinished sync (what `promote` restores); after a completed sync it is an
 * earlier generation left over, which `promote` would not use.
 */
import { describe, expect, it } from "vitest";
import { describeStatus } from "../../src/cli/status-describe.js";
import { judge, usableAge } from "../../src/cli/status-judge.js";
import { statusGauges } from "../../src/cli/status-metrics.js";
import { NAGIOS, nagiosVerdict } from "../../src/cli/status-nagios.js";
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

/** The gauge `name`'s value for the one target, as `status --prometheus` writes it. */
function gauge(s: TargetStatus, name: string): number | undefined {
  return statusGauges([{ status: s, history: [] }], undefined).find((g) => g.name === name)?.samples[0]?.value;
}

const noLimits = { warnAgeMs: undefined, maxAgeMs: undefined };

describe("status --nagios and --prometheus judge a leftover kept copy as status does", () => {
  it("completed, written since, an earlier generation on record: CRITICAL, status code 18, no usable age", () => {
    const s = status({ writtenSince: "yes", good: kept });
    const v = nagiosVerdict(s, noLimits);
    expect(v.state).toBe(NAGIOS.critical);
    expect(v.text).toMatch(/the next sync reads it to check/);
    expect(gauge(s, "blockferry_target_status_code")).toBe(18);
    expect(gauge(s, "blockferry_target_usable_age_seconds")).toBeUndefined();
  });

  it("completed and unwritten, a leftover copy that is gone: OK, not a lost copy; status code 0, the volume's age", () => {
    const s = status({ good: { ...kept, lost: "its clone is gone" } });
    const v = nagiosVerdict(s, noLimits);
    expect(v.state).toBe(NAGIOS.ok);
    expect(v.text).toMatch(/complete and verified, synced 60 min ago/);
    expect(gauge(s, "blockferry_target_status_code")).toBe(0);
    expect(gauge(s, "blockferry_target_usable_age_seconds")).toBeLessThan(4000);
  });

  it("unfinished with a whole kept copy: WARNING (the kept copy serves), status code 0, the kept copy's age", () => {
    const s = status({ complete: false, interrupted: true, good: kept });
    const v = nagiosVerdict(s, noLimits);
    expect(v.state).toBe(NAGIOS.warning);
    expect(v.text).toMatch(/the kept good copy serves/);
    expect(gauge(s, "blockferry_target_status_code")).toBe(0);
    expect(gauge(s, "blockferry_target_usable_age_seconds")).toBeGreaterThan(89_000);
  });
});
