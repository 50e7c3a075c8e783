// Prints the node_modules directories blockferry needs at run time, one a
// line: package.json's dependencies and theirs, without those that only build
// the addon (cmake-js, node-addon-api). scripts/package-deb.sh copies them.
import { existsSync, readFileSync } from "node:fs";

const BUILD_ONLY = new Set(["cmake-js", "node-addon-api"]);
const deps = (file) => Object.keys(JSON.parse(readFileSync(file, "utf8")).dependencies ?? {});

const seen = new Set();
const todo = deps("package.json").filter((d) => !BUILD_ONLY.has(d));
while (todo.length > 0) {
  const name = todo.pop();
  if (seen.has(name)) continue;
  const manifest = `node_modules/${name}/package.json`;
  // npm ci hoists: a nested copy would need the nested path, so say so rather than miss it.
  if (!existsSync(manifest)) throw new Error(`runtime-modules: ${manifest} is missing (run npm ci)`);
  seen.add(name);
  todo.push(...deps(manifest));
}
for (const name of [...seen].sort()) console.log(name);
