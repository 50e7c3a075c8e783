import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "./files.js";

/** The LVM stand-in (lvs, lvcreate, lvremove): see test/fixtures/lvm/lvm.mjs. */
export const standInBin = join(import.meta.dirname, "..", "fixtures", "lvm");

export interface StandInLv {
  vg: string;
  name: string;
  path: string;
  extents: number;
  origin: string;
  tags: string[];
  permission: "r" | "w";
}

export interface StandInState {
  vgs: Record<string, { extentSize: number; extents: number; freeExtents: number }>;
  lvs: StandInLv[];
  simulate: { fillUp?: boolean; lvcreate?: "fail-after-create"; lvremove?: "in-use" };
}

export interface LvmStandIn {
  dir: string;
  env: { PATH: string; LVM_STANDIN_DIR: string };
  /** The image file of vg0/pool. */
  originFile: string;
  /** Each tool run so far: [tool, ...args]. */
  commands(): string[][];
  clearCommands(): void;
  /** The LV names in vg0. */
  lvs(): string[];
  state(): StandInState;
  update(change: (s: StandInState) => void): void;
  /** Runs a stand-in tool as a test's own setup step; its stdout. */
  run(tool: string, args: string[]): string;
  /** Puts `env` into process.env (for in-process calls); returns the function that puts it back. */
  useEnv(): () => void;
  cleanup(): void;
}

/**
 * A volume group "vg0" of `extents` extents holding the LV "pool", whose image
 * file holds `bytes` (padded to whole extents with a hole).
 */
export function lvmStandIn(o: { bytes: Buffer; extentSize?: number; extents?: number }): LvmStandIn {
  const scratch = scratchDir();
  const dir = scratch.dir;
  const extentSize = o.extentSize ?? 1 << 20;
  const poolExtents = Math.max(1, Math.ceil(o.bytes.length / extentSize));
  const extents = o.extents ?? poolExtents * 4;
  const originFile = join(dir, "dev", "vg0", "pool");
  mkdirSync(join(dir, "dev", "vg0"), { recursive: true });
  writeFileSync(originFile, o.bytes);
  truncateSync(originFile, poolExtents * extentSize);
  const initial: StandInState = {
    vgs: { vg0: { extentSize, extents, freeExtents: extents - poolExtents } },
    lvs: [{ vg: "vg0", name: "pool", path: originFile, extents: poolExtents, origin: "", tags: [], permission: "w" }],
    simulate: {},
  };
  const statePath = join(dir, "state.json");
  const logPath = join(dir, "commands.log");
  writeFileSync(statePath, JSON.stringify(initial, null, 2));
  writeFileSync(logPath, "");
  const env = { PATH: `${standInBin}:${process.env.PATH ?? ""}`, LVM_STANDIN_DIR: dir };
  const state = () => JSON.parse(readFileSync(statePath, "utf8")) as StandInState;
  return {
    dir,
    env,
    originFile,
    commands: () =>
      readFileSync(logPath, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as string[]),
    clearCommands: () => writeFileSync(logPath, ""),
    lvs: () => state().lvs.map((lv) => lv.name),
    state,
    update: (change) => {
      const s = state();
      change(s);
      writeFileSync(statePath, JSON.stringify(s, null, 2));
    },
    run: (tool, args) => execFileSync(tool, args, { env: { ...process.env, ...env }, encoding: "utf8" }),
    useEnv: () => {
      const saved = { PATH: process.env.PATH, LVM_STANDIN_DIR: process.env.LVM_STANDIN_DIR };
      Object.assign(process.env, env);
      return () => {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      };
    },
    cleanup: scratch.remove,
  };
}
