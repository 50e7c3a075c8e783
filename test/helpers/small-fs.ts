/**
 * Filesystems that fail on purpose, for target-failure tests (root only):
 * a small tmpfs that fills up (ENOSPC), and a one-file FUSE filesystem whose
 * writes fail with EIO from a chosen offset on (the kernel's own FUSE and
 * loop drivers carry the error; nothing in blockferry is mocked).
 *
 * The FUSE filesystem is served by a separate process: a test that reads the
 * file or a loop device on it would otherwise wait on its own event loop.
 * Protocol: include/uapi/linux/fuse.h (version 7.31 replies, which any
 * newer kernel accepts).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync, read, readFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";

/** Whether `dir` is a mount point now (by the kernel's table, not by guessing). */
export function isMountPoint(dir: string): boolean {
  const want = resolve(dir);
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => unescapeMount(line.split(" ")[4] ?? "") === want);
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export function mountTmpfs(dir: string, bytes: number): void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "blockferry-test", dir]);
}

/** Grows (or shrinks) a tmpfs mounted by mountTmpfs. */
export function resizeTmpfs(dir: string, bytes: number): void {
  execFileSync("mount", ["-o", `remount,size=${bytes}`, dir]);
}

/** Unmounts `dir` if something is mounted there (lazily if it is still busy). */
export function unmount(dir: string): void {
  if (!isMountPoint(dir)) return;
  try {
    execFileSync("umount", [dir], { stdio: "pipe" });
  } catch {
    execFileSync("umount", ["-l", dir], { stdio: "pipe" });
  }
}

/** A file served by a FUSE process, whose writes can be made to fail with EIO. */
export interface FaultyFile {
  /** The file, `size` bytes, zeros until written. */
  path: string;
  /** Writes that reach `offset` or beyond fail with EIO from now on; undefined: none fail. */
  failWritesFrom(offset: number | undefined): Promise<void>;
  /** Writes that failed so far, as the FUSE process saw them. */
  failedWrites(): Promise<number>;
  /** Unmounts and stops the process (detach loop devices on the file first). */
  stop(): Promise<void>;
}

const FILE_NAME = "disk.img";

/** Mounts a FUSE filesystem at `mountpoint` that holds one file of `size` bytes. */
export async function startFaultyFile(mountpoint: string, size: number): Promise<FaultyFile> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", import.meta.filename, "fuse-daemon", resolve(mountpoint), String(size)],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const replies: Array<(m: Reply) => void> = [];
  child.on("message", (m: Reply) => replies.shift()?.(m));
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) => reject(new Error(`the FUSE process exited (${signal ?? code})`))),
  );
  exited.catch(() => {}); // observed through the races below only
  const ask = async (m: Command): Promise<Reply> => {
    const reply = new Promise<Reply>((r) => replies.push(r));
    child.send(m);
    return Promise.race([reply, exited]);
  };
  const ready = await ask({ op: "ready" });
  if (ready.error !== undefined) {
    await stopDaemon(child, mountpoint);
    throw new Error(`FUSE mount at ${mountpoint} failed: ${ready.error}`);
  }
  return {
    path: join(mountpoint, FILE_NAME),
    failWritesFrom: async (offset) => {
      await ask({ op: "fail", from: offset ?? -1 });
    },
    failedWrites: async () => (await ask({ op: "count" })).failed ?? 0,
    stop: async () => stopDaemon(child, mountpoint),
  };
}

async function stopDaemon(child: ChildProcess, mountpoint: string): Promise<void> {
  unmount(mountpoint);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }
}

interface Command {
  op: "ready" | "fail" | "count";
  from?: number;
}
interface Reply {
  error?: string;
  failed?: number;
}

// ---- the FUSE process ----

const Op = {
  lookup: 1,
  forget: 2,
  getattr: 3,
  setattr: 4,
  open: 14,
  read: 15,
  write: 16,
  statfs: 17,
  release: 18,
  fsync: 20,
  flush: 25,
  init: 26,
  opendir: 27,
  readdir: 28,
  releasedir: 29,
  fsyncdir: 30,
  access: 34,
  interrupt: 36,
  destroy: 38,
  batchForget: 42,
} as const;
const ROOT = 1n;
const FILE = 2n;
const EIO = 5;
const ENOENT = 2;
const ENOSYS = 38;
const MAX_WRITE = 128 * 1024;
const CHUNK = 1 << 20;

async function daemon(mountpoint: string, size: number): Promise<void> {
  const chunks = new Map<number, Buffer>(); // 1 MiB pieces, allocated when first written
  let failFrom = -1;
  let failed = 0;
  const fd = openSync("/dev/fuse", "r+");
  const reply = (unique: bigint, error: number, body: Buffer = Buffer.alloc(0)) => {
    const out = Buffer.alloc(16 + (error === 0 ? body.length : 0));
    out.writeUInt32LE(out.length, 0);
    out.writeInt32LE(-error, 4);
    out.writeBigUInt64LE(unique, 8);
    if (error === 0) body.copy(out, 16);
    try {
      writeSync(fd, out);
    } catch {
      // the request was interrupted or the filesystem is going away
    }
  };
  const attr = (node: bigint, currentSize: number): Buffer => {
    const a = Buffer.alloc(88);
    a.writeBigUInt64LE(node, 0); // ino
    a.writeBigUInt64LE(BigInt(node === FILE ? currentSize : 0), 8);
    a.writeBigUInt64LE(BigInt(Math.ceil((node === FILE ? currentSize : 0) / 512)), 16);
    a.writeUInt32LE(node === FILE ? 0o100600 : 0o40700, 60); // mode
    a.writeUInt32LE(node === FILE ? 1 : 2, 64); // nlink
    a.writeUInt32LE(4096, 80); // blksize
    return a;
  };
  const attrOut = (node: bigint) => Buffer.concat([Buffer.alloc(16), attr(node, size)]);
  const copyOut = (offset: number, length: number): Buffer => {
    const out = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
    for (let at = 0; at < out.length; ) {
      const c = Math.floor((offset + at) / CHUNK);
      const within = (offset + at) % CHUNK;
      const n = Math.min(CHUNK - within, out.length - at);
      chunks.get(c)?.copy(out, at, within, within + n);
      at += n;
    }
    return out;
  };
  const copyIn = (offset: number, data: Buffer) => {
    for (let at = 0; at < data.length; ) {
      const c = Math.floor((offset + at) / CHUNK);
      const within = (offset + at) % CHUNK;
      const n = Math.min(CHUNK - within, data.length - at);
      const chunk = chunks.get(c) ?? Buffer.alloc(CHUNK);
      chunks.set(c, chunk);
      data.copy(chunk, within, at, at + n);
      at += n;
    }
  };

  const handle = (req: Buffer) => {
    const opcode = req.readUInt32LE(4);
    const unique = req.readBigUInt64LE(8);
    const node = req.readBigUInt64LE(16);
    const arg = req.subarray(40, req.readUInt32LE(0));
    switch (opcode) {
      case Op.init: {
        const out = Buffer.alloc(64);
        out.writeUInt32LE(7, 0);
        out.writeUInt32LE(31, 4);
        out.writeUInt32LE(arg.readUInt32LE(8), 8); // max_readahead as asked
        out.writeUInt32LE((1 << 5) | (1 << 22), 12); // FUSE_BIG_WRITES | FUSE_MAX_PAGES
        out.writeUInt16LE(16, 16); // max_background
        out.writeUInt16LE(12, 18); // congestion_threshold
        out.writeUInt32LE(MAX_WRITE, 20);
        out.writeUInt32LE(1, 24); // time_gran
        out.writeUInt16LE(MAX_WRITE / 4096, 28); // max_pages
        return reply(unique, 0, out);
      }
      case Op.lookup: {
        const name = arg.subarray(0, arg.indexOf(0)).toString();
        if (node !== ROOT || name !== FILE_NAME) return reply(unique, ENOENT);
        const out = Buffer.alloc(40);
        out.writeBigUInt64LE(FILE, 0);
        return reply(unique, 0, Buffer.concat([out, attr(FILE, size)]));
      }
      case Op.getattr:
      case Op.setattr:
        return reply(unique, 0, attrOut(node));
      case Op.open:
      case Op.opendir:
        return reply(unique, 0, Buffer.alloc(16));
      case Op.read: {
        if (node !== FILE) return reply(unique, 0);
        const offset = Number(arg.readBigUInt64LE(8));
        return reply(unique, 0, copyOut(offset, arg.readUInt32LE(16)));
      }
      case Op.write: {
        const offset = Number(arg.readBigUInt64LE(8));
        const length = arg.readUInt32LE(16);
        if (failFrom >= 0 && offset + length > failFrom) {
          failed++;
          return reply(unique, EIO);
        }
        if (offset + length > size) return reply(unique, 27); // EFBIG: the file does not grow
        copyIn(offset, arg.subarray(40, 40 + length));
        const out = Buffer.alloc(8);
        out.writeUInt32LE(length, 0);
        return reply(unique, 0, out);
      }
      case Op.statfs: {
        const out = Buffer.alloc(80);
        out.writeBigUInt64LE(BigInt(size / 4096), 0);
        out.writeUInt32LE(4096, 40); // bsize
        out.writeUInt32LE(255, 44); // namelen
        out.writeUInt32LE(4096, 48); // frsize
        return reply(unique, 0, out);
      }
      case Op.readdir:
        return reply(unique, 0);
      case Op.release:
      case Op.releasedir:
      case Op.flush:
      case Op.fsync:
      case Op.fsyncdir:
      case Op.access:
      case Op.destroy:
        return reply(unique, 0);
      case Op.forget:
      case Op.batchForget:
      case Op.interrupt:
        return; // no reply
      default:
        return reply(unique, ENOSYS);
    }
  };

  const buffer = Buffer.alloc(MAX_WRITE + 64 * 1024);
  const next = () =>
    new Promise<number>((res, rej) => read(fd, buffer, 0, buffer.length, null, (e, n) => (e ? rej(e) : res(n))));
  const serve = async () => {
    let attached = false;
    for (;;) {
      let n: number;
      try {
        n = await next();
      } catch (e) {
        // EPERM until the mount has attached the connection (mount(2) does not wait for INIT).
        if (attached || (e as NodeJS.ErrnoException).code !== "EPERM") throw e;
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      attached = true;
      handle(Buffer.from(buffer.subarray(0, n)));
    }
  };
  // ENODEV once unmounted: serving ends.
  const serving = serve().catch((e: unknown) => e);

  const send = (m: Reply) => process.send?.(m);
  // Listening before the mount: the parent asks at once whether it is ready.
  const mounted = mountFuse(fd, mountpoint);
  process.on("message", (m: Command) => {
    if (m.op === "ready") mounted.then((error) => send(error === undefined ? {} : { error }));
    else if (m.op === "fail") {
      failFrom = m.from ?? -1;
      send({});
    } else send({ failed });
  });
  process.on("SIGTERM", () => {
    closeSync(fd);
    process.exit(0);
  });
  // The process stays until told to stop, or until its parent goes: then it takes its mount along.
  process.on("disconnect", () => {
    spawnSync("umount", ["-l", mountpoint]);
    process.exit(0);
  });
  await serving;
}

/** Mounts the connection `fd` at `mountpoint`; resolves to why it failed, or undefined. */
async function mountFuse(fd: number, mountpoint: string): Promise<string | undefined> {
  const options = "fd=3,rootmode=40000,user_id=0,group_id=0,allow_other";
  const child = spawn("mount", ["-i", "-t", "fuse.blockferry-test", "-o", options, "blockferry-test", mountpoint], {
    stdio: ["ignore", "inherit", "pipe", fd],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  return code === 0 ? undefined : stderr.trim() || `mount exited with ${code}`;
}

if (process.argv[1] === import.meta.filename && process.argv[2] === "fuse-daemon") {
  const [mountpoint, size] = process.argv.slice(3);
  if (mountpoint === undefined || size === undefined) throw new Error("usage: fuse-daemon MOUNTPOINT SIZE");
  await daemon(mountpoint, Number(size));
}
