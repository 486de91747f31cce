import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{apps,packages,scripts,bench}/**/src/**/*.test.ts", "scripts/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests rely on their own isolation (fresh schema / queue name per file), not retries.
    retry: 0,
  },
});
