/**
 * Inside the guest: the README's first part followed word for word, on real
 * LVM, by an administrator of two servers (issues 18 and 21): the quick start,
 * a night, monitoring, then the primary dies in the middle of a night, the
 * secondary takes over (failover), and later the repaired primary takes back
 * (failback) and the direction is restored. Every command comes from
 * README.md (test/helpers/readme.ts); only these are replaced: the LV size
 * (700G -> 128M) and the fingerprints the README names PRIMARY-KEY and
 * SECONDARY-KEY (by what keygen printed). Between the blocks the test plays
 * the world: BackupPC writing its pool, the primary dying, the secondary
 * serving. The two hosts: ../lib/hosts.ts.
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { testSeed } from "../../helpers/random.js";
import { readWalkthrough, type Step } from "../../helpers/readme.js";
import { type Host, type Role, twoHosts } from "../lib/hosts.js";
import { bytesWrittenSince } from "../lib/keep-good.js";
import { MiB } from "../lib/lvm.js";
import { backupRun, copyDigest, treeDigest } from "../lib/pool-files.js";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const readme = readFileSync(join(import.meta.dirname, "..", "..", "..", "README.md"), "utf8");
const blocks = readWalkthrough(readme).blocks;
const seed = testSeed("readme walk-through");
const LONG = 1_500_000;
let hosts: Record<Role, Host>;
const keys: Partial<Record<Role, string>> = {};
const POOL = "/var/lib/backuppc";

/**
 * Runs README block `name` line by line; each must exit 0. `after` checks run
 * right after the step whose command starts with their key. Returns each step's output.
 */
function walk(name: string, after: Record<string, () => void> = {}): Map<string, string> {
  const steps = blocks.get(name);
  if (steps === undefined) throw new Error(`README.md has no walk-through block ${name}`);
  const out = new Map<string, string>();
  for (const step of steps) {
    const command = substitute(step);
    const r = hosts[step.host].sh(command);
    const what = `README.md:${step.line}: ${step.host}# ${command}\n${r.stdout}${r.stderr}`;
    expect(r.code, what).toBe(0);
    if (/^blockferry keygen\b/.test(step.command)) keys[step.host] = r.stdout.trim();
    out.set(step.command, r.stdout + r.stderr);
    for (const [prefix, check] of Object.entries(after)) if (step.command.startsWith(prefix)) check();
  }
  return out;
}

function substitute(step: Step): string {
  return step.command
    .replace("--size 700G", "--size 128M")
    .replace("sha256:PRIMARY-KEY", keys.primary ?? "(keygen did not run on the primary)")
    .replace("sha256:SECONDARY-KEY", keys.secondary ?? "(keygen did not run on the secondary)");
}

/** BackupPC writes a night's backups into the pool mounted on `host`. */
function backups(host: Host, n: number, mib: number): void {
  const stage = backupRun(s, seed + n, mib);
  const r = host.sh(`cp -a ${stage}/. ${POOL}/ && sync -f ${POOL}`);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(() => {
  hosts = twoHosts(s);
  const { primary, secondary } = hosts;
  const disk = Number(s.sh("blockdev", "--getsz", s.disk).trim());
  const half = Math.floor((disk - 2048) / 2);
  // Each host's disk: half of the scenario's (from 1 MiB on, so the whole disk shows no PV label).
  s.sh("dmsetup", "create", "readme-pv0", "--table", `0 ${half} linear ${s.disk} 2048`);
  s.sh("dmsetup", "create", "readme-pv1", "--table", `0 ${half} linear ${s.disk} ${2048 + half}`);
  for (const [vg, pv] of [
    ["vg0", "/dev/mapper/readme-pv0"],
    ["vg1", "/dev/mapper/readme-pv1"],
  ] as const) {
    s.sh("pvcreate", "-y", pv);
    s.sh("vgcreate", vg, pv);
  }
  // BackupPC is installed on both (its unit: a stand-in that runs until stopped), running on the primary.
  for (const h of [primary, secondary]) {
    const unit = "[Service]\nExecStart=/bin/sleep infinity\n";
    expect(
      h.sh(
        `mkdir -p ${POOL} /etc/backuppc /var/lib/prometheus/node-exporter && printf '${unit}' > /etc/systemd/system/backuppc.service`,
      ).code,
    ).toBe(0);
    expect(h.sh(`echo '$Conf{ServerHost} = "${h.hostname}";' > /etc/backuppc/config.pl`).code).toBe(0);
  }
  s.sh("lvcreate", "-y", "-W", "n", "-L", "128M", "-n", "backuppc", "vg0");
  s.sh("mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", "/dev/vg0/backuppc");
  expect(primary.sh(`mount /dev/vg0/backuppc ${POOL} && systemctl start backuppc`).code).toBe(0);
  backups(primary, 0, 24);
});

it(
  "quick start: keys, receiver, first sync (pinning the secondary's key), the nightly job checked and enabled",
  () => {
    const out = walk("quick-start");
    const first = out.get(
      blocks.get("quick-start")?.find((st) => st.command.includes("--trust-new-host"))?.command ?? "",
    );
    expect(first, "the first sync prints the fingerprint keygen printed on the secondary").toContain(
      `${keys.secondary}`,
    );
    expect(copyDigest(hosts.secondary, "/dev/vg1/backuppc")).toEqual(treeDigest(hosts.primary, POOL));
  },
  LONG,
);

let night1: string;
let night1Tree: string;

it(
  "a night: the nightly service syncs the changes and the configuration; the history shows it",
  () => {
    backups(hosts.primary, 1, 8);
    expect(hosts.primary.sh("echo '# edited' >> /etc/backuppc/config.pl").code).toBe(0);
    const out = walk("night");
    expect([...out.values()].join("\n")).toMatch(/delta/);
    night1Tree = treeDigest(hosts.primary, POOL);
    expect(copyDigest(hosts.secondary, "/dev/vg1/backuppc")).toEqual(night1Tree);
    night1 = hosts.secondary.sh("sha256sum < /dev/vg1/backuppc").stdout;
    const config = (h: Host) => h.sh("cat /etc/backuppc/config.pl").stdout;
    expect(config(hosts.secondary)).toEqual(config(hosts.primary));
  },
  LONG,
);

it(
  "monitoring: status, Nagios, the Prometheus file and the history all say the copy is good",
  () => {
    const out = walk("monitoring");
    expect([...out.values()].join("\n")).toMatch(/BLOCKFERRY OK/);
    const prom = hosts.secondary.sh("cat /var/lib/prometheus/node-exporter/blockferry.prom").stdout;
    expect(prom).toMatch(/^blockferry_target_complete\{target="[^"]*backuppc[^"]*"\} 1$/m);
  },
  LONG,
);

it(
  "the primary dies in the middle of a night; failover: the promoted copy is the last night's, byte for byte",
  async () => {
    const { primary, secondary } = hosts;
    backups(primary, 2, 12);
    await primaryDiesMidNight(primary, secondary);
    let promoted = "";
    walk("failover", { "blockferry promote": () => (promoted = secondary.sh("sha256sum < /dev/vg1/backuppc").stdout) });
    expect(promoted, "the promoted volume, before it is mounted").toEqual(night1);
    expect(treeDigest(secondary, POOL)).toEqual(night1Tree);
    expect(secondary.sh("systemctl is-active blockferry-serve").stdout.trim()).toBe("inactive");
    expect(primary.sh("systemctl is-enabled blockferry-nightly.timer").stdout.trim()).toBe("disabled");
  },
  LONG,
);

/** The night runs (slowed, so that it dies half-way) and is killed with everything it started. */
async function primaryDiesMidNight(primary: Host, secondary: Host): Promise<void> {
  const slow = "sed 's/^bwlimit = .*/bwlimit = \"1M\"/' /etc/blockferry/nightly.toml > /run/slow-night.toml";
  expect(primary.sh(slow).code).toBe(0);
  const written = bytesWrittenSince("/dev/vg1/backuppc");
  const night = primary.start("exec blockferry run /run/slow-night.toml");
  for (let i = 0; i < 12000 && written() < MiB && night.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  process.kill(-(night.pid as number), "SIGKILL");
  // Reaped before going on: a zombie still "runs" (kill -0), and would hold the night's lock.
  if (night.exitCode === null && night.signalCode === null) await once(night, "exit");
  s.log(`the primary died after ${written()} bytes were written to the secondary's copy`);
  expect(written()).toBeGreaterThanOrEqual(MiB);
  const st = JSON.parse(secondary.sh("blockferry status --json /dev/vg1/backuppc").stdout);
  expect(st, "the night was killed before it completed").toMatchObject({ complete: false, good: { method: "lvm" } });
  // It comes back later, BackupPC not started and its pool not mounted (the README's failback asks for that).
  expect(primary.sh(`systemctl stop backuppc && umount ${POOL}`).code).toBe(0);
}

it(
  "failback: the secondary's new data reaches the primary by delta; the direction is restored",
  () => {
    const { primary, secondary } = hosts;
    backups(secondary, 3, 6); // the secondary serves: new backups land on it
    expect(secondary.sh("echo '# changed during the failover' >> /etc/backuppc/config.pl").code).toBe(0);
    const served = treeDigest(secondary, POOL);
    walk("failback");
    expect(treeDigest(primary, POOL)).toEqual(served);
    expect(primary.sh("cat /etc/backuppc/config.pl").stdout).toMatch(/changed during the failover/);
    expect(copyDigest(secondary, "/dev/vg1/backuppc")).toEqual(served);
    const st = JSON.parse(secondary.sh("blockferry status --json /dev/vg1/backuppc").stdout);
    expect(st).toMatchObject({ complete: true });
    expect(st.promotedAt).toBeUndefined();
    expect(primary.sh("systemctl is-enabled blockferry-nightly.timer").stdout.trim()).toBe("enabled");
  },
  LONG,
);
