import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests share loop devices and the machine's two cores: one file at a time.
    fileParallelism: false,
    // CI also keeps a JSON report, from which .ci/run prints the totals.
    reporters: process.env.CI ? ["default", ["json", { outputFile: "build/vitest.json" }]] : ["default"],
  },
});
