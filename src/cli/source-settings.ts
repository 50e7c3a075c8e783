/** How a source reads and sends, as `sync` and `send` take it from their command lines. */
import { MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from "../native/index.js";
import { MIN_FINE_SIZE } from "../protocol/messages.js";
import { parseSize } from "../units.js";
import { checkPowerOfTwo, invalid } from "../validate.js";

export interface SourceFlags {
  compress: string;
  blockSize: string;
  fineBlockSize: string;
  bwlimit?: string;
  readLimit?: string;
  cacheRuns: string;
}

/** --compress and --block-size, as sync, send and bench take them. */
export function codecAndBlockSize(flags: { compress: string; blockSize: string }): {
  compress: boolean;
  blockSize: number;
} {
  if (flags.compress !== "lz4" && flags.compress !== "none") throw invalid("--compress", "lz4 or none", flags.compress);
  const blockSize = checkPowerOfTwo(
    "--block-size",
    parseSize("--block-size", flags.blockSize),
    MIN_BLOCK_SIZE,
    MAX_BLOCK_SIZE,
  );
  return { compress: flags.compress === "lz4", blockSize };
}

export function sourceSettings(flags: SourceFlags) {
  const { blockSize } = codecAndBlockSize(flags);
  const fine = flags.fineBlockSize.trim() === "0" ? 0 : parseSize("--fine-block-size", flags.fineBlockSize);
  const fineSize = fine === 0 ? 0 : checkPowerOfTwo("--fine-block-size", fine, MIN_FINE_SIZE, MAX_BLOCK_SIZE);
  const cacheRuns = Number(flags.cacheRuns);
  if (!/^\d+$/.test(flags.cacheRuns) || !Number.isSafeInteger(cacheRuns)) {
    throw invalid("--cache-runs", "a whole number such as 6", flags.cacheRuns);
  }
  return {
    blockSize,
    fineSize,
    compress: flags.compress === "lz4",
    bwlimit: flags.bwlimit === undefined ? undefined : parseSize("--bwlimit", flags.bwlimit),
    readLimit: flags.readLimit === undefined ? undefined : parseSize("--read-limit", flags.readLimit),
    cacheRuns,
  };
}
