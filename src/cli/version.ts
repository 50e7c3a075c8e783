/**
 * `blockferry --version`: what is installed, enough for a bug report: the
 * version and commit, Node.js, the libraries the addon loaded, or why the
 * addon did not load. Also the one-line message for a CLI whose addon is
 * missing, instead of a stack trace.
 */
import { commit, version } from "../build-info.js";

/** The addon's libraries, or why it could not be loaded. */
async function addonReport(): Promise<string> {
  try {
    const { addon, addonPath } = await import("../native/addon.js");
    return `addon loaded from ${addonPath()}\nliblz4 ${addon.libraries.lz4}, libxxhash ${addon.libraries.xxhash}`;
  } catch (e) {
    return `addon NOT loaded: ${firstLine(e)}`;
  }
}

export async function versionReport(): Promise<string> {
  return `blockferry ${version} (commit ${commit})\nNode.js ${process.version}\n${await addonReport()}\n`;
}

export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0]?.replace(/^blockferry: /, "") ?? "";
}

/** The one line a CLI without a loadable addon prints. */
export function addonMissing(e: unknown): string {
  return (
    `blockferry: the native addon could not be loaded: ${firstLine(e)}\n` +
    "blockferry: reinstall blockferry (see the README's Install section), or in a checkout run: npm ci\n"
  );
}
