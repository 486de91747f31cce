import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { resolveTestServices } from "./testServices";
import { formatSummary, summarize, type VitestJsonReport } from "./testSummary/summarize";

// `pnpm test [vitest args]`: every unit and integration test, against real Postgres and Redis.
// Ends with the plain line "N passed, N failed" taken from vitest's JSON report.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const reportFile = path.join(root, ".xnn", "test-report.json");

let services: Awaited<ReturnType<typeof resolveTestServices>>;
try {
  services = await resolveTestServices();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.stdout.write("0 passed, 0 failed\n");
  process.exit(1);
}

mkdirSync(path.dirname(reportFile), { recursive: true });
rmSync(reportFile, { force: true });
const vitest = path.join(root, "node_modules", ".bin", "vitest");
const child = spawn(
  vitest,
  [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${reportFile}`,
    ...process.argv.slice(2),
  ],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl },
  },
);
const code: number = await new Promise((resolve) =>
  child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))),
);
await services.stop();

let report: VitestJsonReport | null = null;
try {
  report = JSON.parse(readFileSync(reportFile, "utf8")) as VitestJsonReport;
} catch {
  report = null;
}
if (!report) {
  process.stdout.write("0 passed, 1 failed\n");
  process.stderr.write("vitest wrote no JSON report: see its output above\n");
  process.exit(code || 1);
}
const summary = summarize(report, code, root);
process.stdout.write(formatSummary(summary));
// A run that executed nothing is a failure, not a pass.
process.exit(summary.passed + summary.failed === 0 ? 1 : summary.failed > 0 ? code || 1 : code);
