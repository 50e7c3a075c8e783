import { BlockferryError } from "../errors.js";
import { liveUses } from "../host/live.js";

/**
 * Refuses a source mounted read-write (or used as swap) unless `allowLive`:
 * its blocks change while they are read, so the copy is of no one moment and
 * may not mount. With `allowLive`, a loud warning instead.
 */
export async function checkLiveSource(source: string, allowLive: boolean, log: (line: string) => void): Promise<void> {
  const uses = await liveUses(source);
  if (uses.length === 0) return;
  const where = uses.join(", ");
  if (!allowLive) {
    throw new BlockferryError(
      "E_BUSY",
      `${source} is ${where}: its blocks would change while they are copied, and the copy might not mount. ` +
        "Copy a snapshot (--snapshot lvm), unmount it or remount it read-only, or accept an inconsistent copy with --allow-live",
    );
  }
  log(`WARNING: ${source} is ${where}: copying it live (--allow-live); the copy may be inconsistent and may not mount`);
}
