import { it } from "vitest";
import { scenario } from "../lib/scenario.js";

const s = scenario(import.meta.filename);
const t = (...a: string[]) => s.run(a[0] as string, a.slice(1));

it("explores", () => {
  t("sh", "-c", "head -c 33554432 /dev/urandom > /tmp/a.img");
  for (let i = 0; i < 2; i++) {
    t("node", "dist/cli/main.js", "--version");
    t("node", "--jitless", "dist/cli/main.js", "--version");
    t("node", "--no-opt", "dist/cli/main.js", "--version");
    t("node", "--max-lazy", "dist/cli/main.js", "--version");
    t("node", "--no-opt", "--no-sparkplug", "dist/cli/main.js", "--version");
  }
  t("node", "dist/cli/main.js", "sync", "/tmp/a.img", "/tmp/b.img", "--create");
  t("node", "--jitless", "dist/cli/main.js", "sync", "/tmp/a.img", "/tmp/c.img", "--create");
  t("node", "--no-opt", "dist/cli/main.js", "sync", "/tmp/a.img", "/tmp/d.img", "--create");
});
