// The CLI as one file, and its launcher.
//
// dist/cli/main.js: tsc's output and every module it imports from dist/,
// bundled over it by esbuild (packages from node_modules stay imports). Node
// then loads one file instead of ~160 (each resolved, stat'ed and read on its
// own): `blockferry sync --help` started in 0.29 s, bundled in 0.19 s on the
// machine of bench/RESULTS.md ("Where a sync's time goes").
//
// dist/cli/blockferry.cjs, the package's bin: CommonJS, so that it runs before
// Node's ESM loader reads main.js through libuv's thread pool, which fixes the
// pool's size at its first use (4 threads). Reads, digests, compression,
// writes and file I/O all run there; 16 threads keep reads from waiting
// behind folds and cache-file writes. Setting the variable inside an ES
// module came too late: the pool was already running with 4.
//
// Tests run the sources through tsx; the bench and the guest run the launcher.
import { chmodSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

await build({
  entryPoints: ["dist/cli/main.js"],
  outfile: "dist/cli/main.js",
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node18",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});

const launcher = `#!/usr/bin/env node
// blockferry's entry (written by scripts/bundle.mjs): sizes libuv's thread pool, then runs the CLI.
process.env.UV_THREADPOOL_SIZE ??= "16";
import("./main.js");
`;
writeFileSync("dist/cli/blockferry.cjs", launcher);
chmodSync("dist/cli/blockferry.cjs", 0o755);
