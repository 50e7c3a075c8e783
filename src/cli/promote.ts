import type { Command } from "commander";
import { promote } from "../job/promote.js";
import { DEFAULT_STATE_DIR } from "../job/targets.js";
import { jsonText, printable } from "../printable.js";
import { stderrLog } from "./receiver-options.js";

interface PromoteFlags {
  stateDir: string;
  json?: boolean;
}

/** `blockferry promote TARGET`: the secondary's copy becomes the primary's; syncs into it are refused from then on. */
export function registerPromote(program: Command): void {
  program
    .command("promote")
    .description(
      "make this copy the primary's (after a sync that did not finish: the kept good copy); syncs into it are refused from then on",
    )
    .argument("<target>", "the target's block device or image file, on this (the receiving) host")
    .option("--state-dir <dir>", "where block devices' state files live", DEFAULT_STATE_DIR)
    .option("--json", "print JSON on stdout")
    .action(async (target: string, flags: PromoteFlags) => {
      const p = await promote(target, flags.stateDir, stderrLog);
      if (flags.json) {
        process.stdout.write(
          `${jsonText({ ok: true, target, restored: p.restored, already: p.already, promotedAt: p.state.promotedAt, generation: p.state.generation })}\n`,
        );
        return;
      }
      const l = p.state.lastSync;
      const what = p.already
        ? `${target} was already promoted at ${p.state.promotedAt}`
        : `${target} is promoted: it holds generation ${p.state.generation}` +
          (l === undefined ? "" : `, synced ${l.at} from ${l.sourceId}`) +
          (p.restored ? " (restored from the kept good copy)" : "");
      const next = [
        what,
        "Next steps:",
        "  1. On the old primary, if it still runs: stop and disable its nightly sync",
        "     (systemctl disable --now blockferry-nightly.timer), so it cannot sync back when it returns.",
        "  2. Here: stop the receiver (systemctl stop blockferry-serve), check and mount the copy",
        `     (fsck -n ${target}; mount ...), start the service, and point clients at this host.`,
        "  3. Syncs into this copy are refused now (exit 22). When the primary is repaired, fail back:",
        `     blockferry sync --snapshot lvm ${target} tcp://PRIMARY:7300/NAME (or root@PRIMARY:/dev/VG/LV),`,
        "     then on the primary resume the nightly job once with --force, which ends the promotion here.",
      ];
      process.stdout.write(`${next.map(printable).join("\n")}\n`);
    });
}
