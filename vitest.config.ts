import { defineConfig } from "vitest/config";

// `pnpm test` runs three projects: unit + integration tests next to the code, the dashboard's
// end-to-end tests in real Chromium (their own config: a dashboard build first, one file at a time),
// and last, alone on the machine, the tests that judge responsiveness under load (a p95 taken while
// other test files load every core measures the test run, not the code).
const QUIET = ["apps/scheduler/src/api/explainNoStall.test.ts"];
const common = {
  exclude: ["**/node_modules/**", "**/dist/**"],
  pool: "forks" as const,
  testTimeout: 120_000,
  hookTimeout: 120_000,
  // Integration tests rely on their own isolation (fresh database / queue prefix per file), not retries.
  retry: 0,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...common,
          name: "xnn",
          include: [
            "{apps,packages,scripts,bench}/**/src/**/*.test.ts",
            "scripts/**/*.test.ts",
            "tests/**/*.test.ts",
          ],
          exclude: [...common.exclude, ...QUIET],
          sequence: { groupOrder: 0 },
        },
      },
      "apps/dashboard/vitest.config.ts",
      {
        test: {
          ...common,
          name: "xnn-quiet",
          include: QUIET,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
