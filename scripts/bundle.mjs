// The CLI as one file: tsc's dist/cli/main.js and every module it imports
// from dist/, bundled over it by esbuild (packages from node_modules stay
// imports). Node then loads one file instead of ~160 (each resolved, stat'ed
// and read on its own): `blockferry sync --help` started in 0.29 s, bundled
// in 0.19 s on the machine of bench/RESULTS.md ("Where a sync's time goes").
// Tests run the sources through tsx; the bench and the guest run the bundle.
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
