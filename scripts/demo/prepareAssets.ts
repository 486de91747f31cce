import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./paths";

/** The size conf/demo-base's `data.dir` was generated with; imageSize there resizes on load. */
export const DEMO_SYNTH = { n: 600, size: 128, seed: 1 } as const;

/** The generator version the demo's pipelines were tuned on (packages/ml SYNTH_GENERATOR). */
const DEMO_GENERATOR = "xnn-synth-v2";

/**
 * True when `dataDir` holds a finished synthetic data set (synth.json is written last) made by the
 * current generator; a set from an older generator is regenerated.
 */
export function syntheticDataPresent(dataDir: string): boolean {
  const file = path.join(dataDir, "synth.json");
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { generator?: string }).generator === DEMO_GENERATOR;
  } catch {
    return false;
  }
}

export async function generateDemoData(dataDir: string): Promise<void> {
  // Imported here: loading TensorFlow.js costs seconds that a rerun with data present should not pay.
  const { generateSynthetic } = await import("@xnn/ml");
  // force: the demo owns this folder; an older generator's set is replaced.
  await generateSynthetic({ out: dataDir, ...DEMO_SYNTH, force: true });
}

export function dashboardBuilt(distDir: string): boolean {
  return existsSync(path.join(distDir, "index.html"));
}

/**
 * `pnpm --filter @xnn/dashboard build`, with output in `logFile`. Uses the pnpm running this demo
 * when there is one (npm_execpath), so a pnpm installed only through npx or corepack still works.
 */
export async function buildDashboard(logFile: string): Promise<void> {
  const execPath = process.env.npm_execpath;
  const [command, prefixArgs] =
    execPath && /pnpm/.test(path.basename(execPath)) && /\.c?js$/.test(execPath)
      ? [process.execPath, [execPath]]
      : ["pnpm", []];
  const fd = openSync(logFile, "w");
  try {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(command, [...prefixArgs, "--filter", "@xnn/dashboard", "build"], {
        cwd: repoRoot,
        stdio: ["ignore", fd, fd],
      });
      child.once("error", () => resolve(127));
      child.once("exit", (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw new Error(`dashboard build failed (exit ${code}); see ${logFile}`);
  } finally {
    closeSync(fd);
  }
}
