/** Where benchmarks find the built CLI and keep their images and scratch files (bench/out, not in git). */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

/** BLOCKFERRY_BENCH_CLI names another build (e.g. of the last commit, made outside a tree with work in progress). */
export const cli =
  process.env.BLOCKFERRY_BENCH_CLI ?? join(import.meta.dirname, "..", "..", "dist", "cli", "blockferry.cjs");
if (!existsSync(cli)) throw new Error("run `npm run build` first");
export const out = join(import.meta.dirname, "..", "out");
mkdirSync(out, { recursive: true });
