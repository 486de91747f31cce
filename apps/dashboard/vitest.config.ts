import { defineConfig } from "vitest/config";

// End-to-end tests only (real Chromium, API, Postgres, Redis); they run in order, in one file each.
export default defineConfig({
  test: {
    name: "dashboard-e2e",
    include: ["e2e/**/*.e2e.test.ts"],
    globalSetup: ["e2e/globalSetup.ts"],
    // Each file drives its own Chromium against its own API: one at a time on a 2-core machine.
    fileParallelism: false,
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 180_000,
    retry: 0,
    // Pages render after their requests return: wait on conditions, with room for a loaded machine.
    expect: { poll: { timeout: 15_000, interval: 100 } },
  },
});
