// Records the commit a build of dist/ came from (dist/build-info.json), for
// `blockferry --version`: an installed package has no .git to ask.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";

let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).trim();
  const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim();
  if (dirty !== "") commit += "-modified";
} catch {
  // not a git checkout (a package unpacked elsewhere): keep "unknown"
}
mkdirSync("dist", { recursive: true });
writeFileSync("dist/build-info.json", `${JSON.stringify({ commit })}\n`);
