import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

/** Builds the dashboard once for all e2e files, as users get it (XNN_E2E_SKIP_BUILD=1 reuses dist/). */
export default async function buildDashboard() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  if (process.env.XNN_E2E_SKIP_BUILD === "1" && existsSync(path.join(root, "dist/index.html"))) return;
  await build({ root, configFile: path.join(root, "vite.config.ts"), logLevel: "warn" });
}
