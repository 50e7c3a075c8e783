/**
 * The host's side of the guest tier, part 2: a kernel with device-mapper and
 * an initramfs for it, cached between runs under CACHE/KERNEL-VERSION/.
 *
 * The kernel is Debian's own (the package linux-image-amd64 depends on),
 * fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a
 * temporary folder: never installed, so /boot and the host's own boot stay
 * as they are. Kept: the kernel image and the few modules the guest loads
 * (found with `modprobe --show-depends`, dependencies first). The initramfs
 * (busybox, those modules, initramfs-init.sh) is named after a hash of what
 * went into it, so a changed init script builds a new one.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";

export const DEFAULT_CACHE = "/var/cache/blockferry-guest";
const META_PACKAGE = "linux-image-amd64";
/** virtio disks and the 9p root, the overlay on it, LVM's targets, ext4 for a mounted origin. */
const MODULES = ["virtio_pci", "virtio_blk", "9pnet_virtio", "9p", "overlay", "dm-snapshot", "dm-thin-pool", "ext4"];
const INIT = join(import.meta.dirname, "initramfs-init.sh");
const BUSYBOX = "/bin/busybox";

export interface GuestKernel {
  version: string;
  vmlinuz: string;
  initramfs: string;
}

type Log = (line: string) => void;

/** The kernel linux-image-amd64 points at now, cached; the newest cached one when apt cannot fetch it. */
export function prepareKernel(cacheDir: string, log: Log): GuestKernel {
  mkdirSync(cacheDir, { recursive: true });
  let dir: string;
  try {
    dir = currentKernel(cacheDir, log);
  } catch (e) {
    const cached = cachedVersions(cacheDir).at(-1);
    if (cached === undefined) throw e;
    log(`cannot fetch the current kernel (${firstLine(e)}): using the cached ${cached}`);
    dir = join(cacheDir, cached);
  }
  return {
    version: basename(dir),
    vmlinuz: join(dir, "vmlinuz"),
    initramfs: buildInitramfs(dir, log),
  };
}

/** Its cache folder, fetched if missing; apt's package lists refreshed once if they are missing or stale. */
function currentKernel(cacheDir: string, log: Log): string {
  for (let attempt = 0; ; attempt++) {
    try {
      const pkg = kernelPackage();
      const version = pkg.replace(/^linux-image-/, "");
      const dir = join(cacheDir, version);
      if (!existsSync(join(dir, "modules.list"))) fetchKernel(pkg, version, dir, log);
      return dir;
    } catch (e) {
      if (attempt > 0) throw e;
      log(`${firstLine(e)}: apt-get update, then once more`);
      execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"] });
    }
  }
}

function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split("\n")[0] ?? "";
}

function kernelPackage(): string {
  const out = execFileSync("apt-cache", ["depends", META_PACKAGE], { encoding: "utf8" });
  const m = /Depends: (linux-image-[0-9][^\s]*)/.exec(out);
  if (!m?.[1])
    throw new Error(`apt-cache depends ${META_PACKAGE}: no linux-image-VERSION package in ${JSON.stringify(out)}`);
  return m[1];
}

function cachedVersions(cacheDir: string): string[] {
  return readdirSync(cacheDir)
    .filter((v) => existsSync(join(cacheDir, v, "modules.list")))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

function fetchKernel(pkg: string, version: string, dir: string, log: Log): void {
  const tmp = mkdtempSync(join(dir, "..", ".fetch-"));
  try {
    log(`fetching ${pkg} (apt-get download, unpacked here, not installed)`);
    // As root, apt's sandbox user cannot write the temporary folder: download as root.
    execFileSync("apt-get", ["download", "-q", "-o", "APT::Sandbox::User=root", pkg], { cwd: tmp, stdio: "ignore" });
    const deb = readdirSync(tmp).find((f) => f.endsWith(".deb"));
    if (deb === undefined) throw new Error(`apt-get download ${pkg} left no .deb`);
    const root = join(tmp, "root");
    execFileSync("dpkg-deb", ["-x", join(tmp, deb), root]);
    execFileSync("depmod", ["-b", root, version]);
    const out = join(tmp, "out");
    mkdirSync(join(out, "modules"), { recursive: true });
    copyFileSync(join(root, "boot", `vmlinuz-${version}`), join(out, "vmlinuz"));
    const modules = moduleFiles(root, version);
    for (const ko of modules) copyFileSync(ko, join(out, "modules", basename(ko)));
    writeFileSync(join(out, "modules.list"), `${modules.map((ko) => basename(ko)).join("\n")}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The .ko files of MODULES and their dependencies, each once, dependencies first. */
function moduleFiles(root: string, version: string): string[] {
  const files: string[] = [];
  for (const m of MODULES) {
    const out = execFileSync("modprobe", ["-d", root, "-S", version, "--show-depends", m], { encoding: "utf8" });
    for (const line of out.split("\n")) {
      const [verb, file] = line.split(" ");
      if (verb === "insmod" && file !== undefined && !files.includes(file)) files.push(file);
    }
  }
  return files;
}

function buildInitramfs(dir: string, log: Log): string {
  const list = readFileSync(join(dir, "modules.list"), "utf8");
  const init = readFileSync(INIT);
  const key = createHash("sha256").update(init).update(list).update(readFileSync(BUSYBOX)).digest("hex").slice(0, 16);
  const path = join(dir, `initramfs-${key}.cpio.gz`);
  if (existsSync(path)) return path;
  log(`building ${path}`);
  const tmp = mkdtempSync(join(dir, ".initramfs-"));
  try {
    for (const d of ["bin", "lib/modules", "proc", "sys", "dev"]) mkdirSync(join(tmp, d), { recursive: true });
    copyFileSync(BUSYBOX, join(tmp, "bin", "busybox"));
    copyFileSync(INIT, join(tmp, "init"));
    execFileSync("chmod", ["0755", join(tmp, "init"), join(tmp, "bin", "busybox")]);
    writeFileSync(join(tmp, "modules.list"), list);
    for (const ko of list.split("\n").filter((l) => l !== "")) {
      copyFileSync(join(dir, "modules", ko), join(tmp, "lib", "modules", ko));
    }
    const part = `${path}.part`;
    execFileSync("sh", ["-c", `find . | ${BUSYBOX} cpio -o -H newc | gzip -1 > "$0"`, part], {
      cwd: tmp,
      stdio: ["ignore", "ignore", "inherit"],
    });
    renameSync(part, path);
    // Those of earlier init scripts are of no more use.
    for (const f of readdirSync(dir))
      if (/^initramfs-.*\.cpio\.gz$/.test(f) && join(dir, f) !== path) rmSync(join(dir, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return path;
}
