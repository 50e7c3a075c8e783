/** What the host runner and the guest agree on: scenario file names and their disks. */
import { basename } from "node:path";

export const SCENARIO_SUFFIX = ".guest.ts";
/** Each scenario file's scratch disk (sparse: it costs what is written). */
export const DISK_SIZE = 8 * 2 ** 30;

/** A scenario file's disk serial and log name: its name without the suffix (virtio allows 20 bytes). */
export function diskSerial(file: string): string {
  const name = basename(file, SCENARIO_SUFFIX);
  if (!/^[a-z0-9-]{1,20}$/.test(name)) {
    throw new Error(`scenario file ${file}: its name must be 1 to 20 of a-z, 0-9, - before ${SCENARIO_SUFFIX}`);
  }
  return name;
}
