/** `blockferry sync --help`: the options in groups, as an administrator looks for them, then examples. */
import type { Command, Option } from "commander";

const GROUPS: Array<[string, string[]]> = [
  ["What to copy:", ["full", "with-dir", "allow-live"]],
  [
    "How it is copied:",
    ["compress", "block-size", "fine-block-size", "bwlimit", "read-limit", "no-cache", "cache-dir", "cache-runs"],
  ],
  [
    "Where it goes:",
    [
      "create",
      "state-dir",
      "rsh",
      "remote-path",
      "key-dir",
      "known-hosts",
      "trust-new-host",
      "insecure-plaintext",
      "secret-file",
    ],
  ],
  ["Snapshot and hooks:", ["snapshot", "snapshot-size", "pre-snapshot", "post-snapshot", "hook-timeout"]],
  ["Safety:", ["verify", "paranoid", "dry-run", "force", "keep-good", "keep-good-size"]],
  ["Output:", ["json", "quiet", "metrics-file"]],
];

const EXAMPLES = `
Sizes and rates: K, M, G (or KiB, MiB, GiB) are powers of 1024, KB, MB, GB powers of 1000;
blockferry prints KiB, MiB and MiB/s.

Examples:
  # a first copy to a receiver (blockferry serve), pinning its key once checked
  blockferry sync --trust-new-host /dev/vg0/data tcp://backup2:7300/data
  # every night: from an LVM snapshot, compressed, at most 80 MiB/s on the wire
  blockferry sync --snapshot lvm --compress lz4 --bwlimit 80M /dev/vg0/data tcp://backup2:7300/data
  # to a local image file, created if missing
  blockferry sync --create /dev/vg0/data /srv/copies/data.img
  # over ssh, keeping the target's last good copy while it is written
  blockferry sync --keep-good reflink disk.img root@backup2:/srv/copies/disk.img
  # what would be sent, writing nothing
  blockferry sync --dry-run /dev/vg0/data tcp://backup2:7300/data
`;

/** Puts each option of `sync` in its group (an option left out shows under "Other:") and adds the examples. */
export function groupSyncHelp(command: Command): Command {
  const groupOf = new Map(GROUPS.flatMap(([heading, keys]) => keys.map((k) => [k, heading] as const)));
  // In the order of GROUPS, whatever order the options were defined in.
  const order = (heading: string) => GROUPS.findIndex(([h]) => h === heading);
  const options = [...command.options].sort(
    (a, b) => order(groupOf.get(key(a)) ?? "") - order(groupOf.get(key(b)) ?? ""),
  );
  // commander lists groups in the order their first option was added: reorder the (readonly-typed) list.
  (command.options as Option[]).splice(0, command.options.length, ...options);
  for (const o of command.options) o.helpGroup(groupOf.get(key(o)) ?? "Other:");
  return command.addHelpText("after", EXAMPLES);
}

function key(o: { long?: string | undefined }): string {
  return (o.long ?? "").replace(/^--/, "");
}
