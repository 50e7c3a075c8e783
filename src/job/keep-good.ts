/**
 * --keep-good on a receiver: how each target's last good copy is kept while
 * a sync writes it (src/engine/good-copy.ts). An image file on a filesystem
 * with reflinks (XFS, btrfs) gets a clone beside it, IMAGE.blockferry-good:
 * made in an instant, sharing every block until one is written. Anywhere
 * else a receiver refuses to start, never falling back silently to a full
 * copy or to nothing.
 */
import { constants } from "node:fs";
import { copyFile, open, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { GoodCopyKeeper } from "../engine/target-types.js";
import { BlockferryError, fromFsError } from "../errors.js";
import { quoted } from "../printable.js";
import { invalid } from "../validate.js";

export type KeepGoodMethod = "reflink" | "lvm";

export interface KeepGood {
  method: KeepGoodMethod;
  /** A classic (thick) LV snapshot's size, as --snapshot-size takes it; undefined: lvm2's default choice here. */
  size?: string | undefined;
}

/** "[NAME=]reflink|lvm" */
export function parseKeepGood(spec: string): [string, KeepGoodMethod] {
  const at = spec.indexOf("=");
  const name = at < 0 ? "*" : spec.slice(0, at);
  const method = at < 0 ? spec : spec.slice(at + 1);
  if (name === "" || (method !== "reflink" && method !== "lvm")) {
    throw invalid("--keep-good", "reflink or lvm, for every target or as NAME=METHOD", spec);
  }
  return [name, method];
}

/** Where an image's good copy is kept. */
export function reflinkPath(image: string): string {
  return `${image}.blockferry-good`;
}

/**
 * A recorded place that is not where this image's good copy is kept (beside
 * it, named for it, however the image's path is spelled) is refused, never
 * removed or cloned: an edited state file.
 */
async function expectReflinkAt(image: string, where: string): Promise<void> {
  const real = (p: string) => realpath(p).catch(() => resolve(p));
  const [dir, imageDir, realImage] = await Promise.all([real(dirname(where)), real(dirname(image)), real(image)]);
  const names = [basename(reflinkPath(image)), basename(reflinkPath(realImage))];
  if (dir !== imageDir && dir !== dirname(realImage)) throw elsewhere(image, where);
  if (!names.includes(basename(where))) throw elsewhere(image, where);
}

function elsewhere(image: string, where: string): BlockferryError {
  return new BlockferryError(
    "E_SNAPSHOT",
    `the good copy of ${quoted(image)} is recorded at ${quoted(where)}, but it is kept at ${quoted(reflinkPath(image))}: not touching ${quoted(where)}`,
  );
}

/** Clones `from` onto `to` (replacing it) by reflink, durably; fails where reflinks are not supported. */
async function cloneFile(from: string, to: string): Promise<void> {
  await copyFile(from, to, constants.COPYFILE_FICLONE_FORCE);
  const handle = await open(to, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The keeper of an image's good copy: a reflink clone, made beside and renamed into place. */
export function reflinkKeeper(image: string): GoodCopyKeeper {
  const where = reflinkPath(image);
  return {
    method: "reflink",
    async preserve() {
      const fresh = `${where}.new`;
      try {
        await cloneFile(image, fresh);
        await rename(fresh, where);
        await syncDir(dirname(where));
      } catch (e) {
        await rm(fresh, { force: true });
        throw fromFsError(e, `keeping the good copy of ${quoted(image)} (a reflink clone at ${quoted(where)})`);
      }
      return where;
    },
    async drop(at) {
      await expectReflinkAt(image, at);
      await rm(at, { force: true });
      await syncDir(dirname(at));
    },
    async lost(at) {
      await expectReflinkAt(image, at);
      const [copy, main] = await Promise.all([stat(at).catch(() => undefined), stat(image).catch(() => undefined)]);
      if (copy === undefined) return `its clone ${quoted(at)} is gone`;
      return main !== undefined && copy.dev !== main.dev ? `its clone ${quoted(at)} is on another filesystem` : "";
    },
  };
}

/** Makes the good copy at `where` the image again (promote after an unfinished sync); the clone stays until dropped. */
export async function restoreReflink(image: string, where: string): Promise<void> {
  await expectReflinkAt(image, where);
  try {
    await cloneFile(where, image);
  } catch (e) {
    throw fromFsError(e, `restoring ${quoted(image)} from its good copy ${quoted(where)}`);
  }
}

/** Refused at start where reflinks cannot work: a clone of a small file in the image's directory must succeed. */
export async function checkReflinks(image: string, target: string): Promise<void> {
  const dir = dirname(image);
  const probe = join(dir, `.blockferry-reflink-probe.${process.pid}`);
  try {
    await (await open(probe, "w")).close();
    await copyFile(probe, `${probe}.clone`, constants.COPYFILE_FICLONE_FORCE);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new BlockferryError(
      "E_UNSUPPORTED",
      `--keep-good ${target}=reflink: the filesystem of ${quoted(dir)} cannot clone files by reflink (${why}); ` +
        "keep the image on XFS or btrfs, or keep good copies with LVM (--keep-good lvm on an LV)",
    );
  } finally {
    await rm(probe, { force: true });
    await rm(`${probe}.clone`, { force: true });
  }
}
