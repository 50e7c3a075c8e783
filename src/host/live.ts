/**
 * Is a source in use read-write right now? Copying a filesystem that is
 * mounted read-write, without a snapshot, gives a copy whose blocks come from
 * different moments: often one that does not mount. Looked for: mounts (in
 * /proc/self/mountinfo) and swap areas on the device, its partitions and the
 * devices stacked on it (holders: device-mapper, md), and for an image file
 * the loop devices it backs.
 */
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { deviceName } from "./device-number.js";

/** Where the source is in use read-write ("mounted at /srv (rw)", "swap"); empty when nowhere. */
export async function liveUses(path: string): Promise<string[]> {
  // A source that cannot be looked at is for openVolume to report, with its own error.
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return [];
  const devices = st.isBlockDevice() ? [deviceName(Number(st.rdev))] : await loopDevicesBackedBy(await realpath(path));
  const all = new Set<string>();
  for (const d of devices) await collectStack(d, all);
  if (all.size === 0) return [];
  const uses: string[] = [];
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  for (const line of mountinfo.split("\n")) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER-OPTIONS
    const [left, right] = line.split(" - ");
    const f = left?.split(" ") ?? [];
    const g = right?.split(" ") ?? [];
    const dev = f[2];
    const source = g[1] ?? "";
    const rw = f[5]?.split(",").includes("rw") && g[2]?.split(",").includes("rw");
    if (!rw || dev === undefined) continue;
    const bySource = source.startsWith("/dev/") ? await devOf(source) : undefined;
    if (all.has(dev) || (bySource !== undefined && all.has(bySource)))
      uses.push(`mounted read-write at ${unescapeMount(f[4] ?? "?")}`);
  }
  const swaps = await readFile("/proc/swaps", "utf8").catch(() => "");
  for (const line of swaps.split("\n").slice(1)) {
    const name = line.split(/\s+/)[0];
    if (name?.startsWith("/dev/") && all.has((await devOf(name)) ?? "")) uses.push(`in use as swap (${name})`);
  }
  return [...new Set(uses)];
}

/** The device, its partitions, and everything stacked on them, as "MAJ:MIN". */
async function collectStack(dev: string, into: Set<string>): Promise<void> {
  if (into.has(dev)) return;
  into.add(dev);
  const sys = `/sys/dev/block/${dev}`;
  const entries = await readdir(sys).catch(() => [] as string[]);
  for (const name of entries) {
    const partition = await readFile(join(sys, name, "dev"), "utf8").catch(() => "");
    if (partition !== "" && (await readFile(join(sys, name, "partition"), "utf8").catch(() => "")) !== "") {
      await collectStack(partition.trim(), into);
    }
  }
  for (const holder of await readdir(join(sys, "holders")).catch(() => [] as string[])) {
    const hdev = await readFile(`/sys/class/block/${holder}/dev`, "utf8").catch(() => "");
    if (hdev !== "") await collectStack(hdev.trim(), into);
  }
}

async function loopDevicesBackedBy(file: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir("/sys/block").catch(() => [] as string[])) {
    if (!name.startsWith("loop")) continue;
    const backing = (await readFile(`/sys/block/${name}/loop/backing_file`, "utf8").catch(() => "")).trim();
    if (backing === file) found.push((await readFile(`/sys/block/${name}/dev`, "utf8")).trim());
  }
  return found;
}

async function devOf(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st?.isBlockDevice() ? deviceName(Number(st.rdev)) : undefined;
}

/** mountinfo escapes spaces and the like as \040. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}
