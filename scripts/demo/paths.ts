import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository root: the demo works from any cwd, and `pnpm demo` may be run from a subfolder. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * `node --import <this> file.ts` runs TypeScript in a child process. An absolute URL, because a bare
 * `--import tsx` is resolved against the child's cwd, which need not be inside the repository.
 */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface DemoPaths {
  /** Everything the demo creates at run time lives here, so deleting it resets the demo. */
  home: string;
  pgliteDir: string;
  redisDir: string;
  artifactDir: string;
  logDir: string;
  explanationsDir: string;
  /** Random id written once per demo home; the queue prefix derives from it. */
  instanceFile: string;
  /** Holds the pid of the demo using this home. */
  lockFile: string;
  sweepFile: string;
  dataDir: string;
  dashboardDir: string;
}

/**
 * XNN_DEMO_HOME overrides `.xnn/` (tests point it at a temporary folder); XNN_DEMO_SWEEP runs another
 * sweep file than conf/demo.yaml (a smaller one to try a change quickly, or your own).
 */
export function demoPaths(env: NodeJS.ProcessEnv = process.env): DemoPaths {
  const home = path.resolve(env.XNN_DEMO_HOME ?? path.join(repoRoot, ".xnn"));
  return {
    home,
    pgliteDir: path.join(home, "pglite"),
    redisDir: path.join(home, "redis"),
    artifactDir: path.join(home, "artifacts"),
    logDir: path.join(home, "logs"),
    explanationsDir: path.join(home, "explanations"),
    instanceFile: path.join(home, "demo-instance"),
    lockFile: path.join(home, "demo.lock"),
    sweepFile: path.resolve(env.XNN_DEMO_SWEEP ?? path.join(repoRoot, "conf", "demo.yaml")),
    dataDir: path.join(repoRoot, "data", "synthetic"),
    dashboardDir: path.join(repoRoot, "apps", "dashboard", "dist"),
  };
}
