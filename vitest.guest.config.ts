import { defineConfig } from "vitest/config";

/**
 * The guest tier's scenarios, run by vitest INSIDE the test guest (see
 * test/guest/run.ts, which `npm run test:guest` starts on the host). Kept out
 * of vitest.config.ts: `npm test` never runs them.
 */
export default defineConfig({
  test: {
    include: ["test/guest/scenarios/*.guest.ts"],
    // Software emulation: every command is slow, a scenario takes minutes.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // One worker for every file, its imports (vitest, the libraries) loaded and transformed once:
    // under emulation that saves seconds per file. Scenario files share no state but the disk they own.
    isolate: false,
  },
});
