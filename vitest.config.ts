import { defineConfig } from "vitest/config";

// `pnpm test` runs both projects: unit + integration tests next to the code, and the dashboard's
// end-to-end tests in real Chromium (their own config: a dashboard build first, one file at a time).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "xnn",
          include: ["{apps,packages,scripts,bench}/**/src/**/*.test.ts", "scripts/**/*.test.ts", "tests/**/*.test.ts"],
          exclude: ["**/node_modules/**", "**/dist/**"],
          pool: "forks",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration tests rely on their own isolation (fresh database / queue prefix per file), not retries.
          retry: 0,
        },
      },
      "apps/dashboard/vitest.config.ts",
    ],
  },
});
