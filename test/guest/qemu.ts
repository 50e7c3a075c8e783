/**
 * The host's side of the guest tier, part 3: one boot of the guest under QEMU
 * with software emulation (TCG: this machine has no /dev/kvm).
 *
 * The guest sees the host's / read-only over 9p (tag hostroot: it runs the
 * host's node, lvm2 and this checkout), the run folder writable over 9p (tag
 * run: results and logs come back through it), and one virtio disk per
 * scenario, named by its serial. Its serial console is copied to our stdout
 * and to RUN/serial.log.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import type { GuestKernel } from "./kernel.js";

export interface Disk {
  path: string;
  /** virtio-blk serial (at most 20 bytes): the guest finds the disk by it in /sys/block/vd* /serial. */
  serial: string;
}

export interface Boot {
  kernel: GuestKernel;
  /** Host folder the guest may write, mounted at the same path inside it. */
  runDir: string;
  /** The checkout the guest runs (built: dist/ and the addon). */
  root: string;
  disks: Disk[];
  timeoutMs: number;
  cpus: number;
  memoryMiB: number;
}

const INIT = join(import.meta.dirname, "init.sh");

/** Boots, waits for the guest to power off; resolves to QEMU's exit code (null: killed at the timeout). */
export function bootGuest(b: Boot): Promise<{ code: number | null; timedOut: boolean }> {
  const append = [
    "console=ttyS0",
    "panic=-1",
    "quiet",
    "loglevel=4",
    "random.trust_cpu=on",
    `guest.init=${INIT}`,
    `guest.run=${b.runDir}`,
    `guest.root=${b.root}`,
  ].join(" ");
  const args = [
    ...["-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max", "-smp", String(b.cpus), "-m", String(b.memoryMiB)],
    ...["-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio"],
    ...["-kernel", b.kernel.vmlinuz, "-initrd", b.kernel.initramfs, "-append", append],
    ...["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"],
    ...["-virtfs", `local,path=${b.runDir},mount_tag=run,security_model=none`],
    ...["-device", "virtio-rng-pci"],
  ];
  for (const d of b.disks) {
    args.push("-drive", `file=${d.path},if=none,id=${d.serial},format=raw,cache=unsafe,aio=threads`);
    args.push("-device", `virtio-blk-pci,drive=${d.serial},serial=${d.serial}`);
  }
  for (const word of [b.runDir, b.root, INIT]) {
    // The kernel command line splits at spaces, and QEMU's option syntax at commas.
    if (/[\s,]/.test(word)) throw new Error(`the guest cannot be given ${JSON.stringify(word)}: no spaces or commas`);
  }
  const serial = createWriteStream(join(b.runDir, "serial.log"));
  const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
  const copy = (chunk: Buffer) => {
    const text = chunk.toString("utf8").replaceAll("\r", "");
    process.stdout.write(text);
    serial.write(text);
  };
  qemu.stdout.on("data", copy);
  qemu.stderr.on("data", copy);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill("SIGKILL");
  }, b.timeoutMs);
  return new Promise((resolve, reject) => {
    qemu.once("error", reject);
    qemu.once("close", (code) => {
      clearTimeout(timer);
      serial.end(() => resolve({ code, timedOut }));
    });
  });
}

/** QEMU killed by a signal (not by our timeout) before the guest said it was up: nothing ran, so a boot may be tried again. */
export function diedBooting(booted: { code: number | null; timedOut: boolean }, serial: string): boolean {
  return booted.code === null && !booted.timedOut && !serial.includes("guest: up after");
}
