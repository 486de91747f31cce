import { readFileSync } from "node:fs";
import path from "node:path";
import { type ChildService, spawnService, waitUntilReady } from "./childService";
import { repoRoot, TSX_LOADER } from "./paths";

export interface WorkerEnvironment {
  DATABASE_URL: string;
  REDIS_URL: string;
  XNN_QUEUE_PREFIX: string;
  ARTIFACT_DIR: string;
  /** Always "" here: the demo keeps its artifacts on local disk whatever the shell exports. */
  ARTIFACT_URL: string;
}

const WORKER_ENTRY = path.join(repoRoot, "apps", "gpu-worker", "src", "index.ts");

function logSays(file: string, needle: string): boolean {
  try {
    return readFileSync(file, "utf8").includes(needle);
  } catch {
    return false;
  }
}

/**
 * `count` worker processes (`pnpm worker`), each on one core: a TensorFlow.js wasm process cannot
 * use a second one. Resolves once each has logged that it listens on the queue.
 */
export async function startWorkers(
  count: number,
  env: WorkerEnvironment,
  logDir: string,
): Promise<ChildService[]> {
  const workers: ChildService[] = [];
  for (let i = 1; i <= count; i++) {
    workers.push(
      spawnService({
        name: `worker-${i}`,
        command: process.execPath,
        args: ["--import", TSX_LOADER, WORKER_ENTRY],
        cwd: repoRoot,
        logFile: path.join(logDir, `worker-${i}.log`),
        env: {
          ...process.env,
          ...env,
          // Relative `data.dir` values in the demo configs (data/synthetic) are repository paths.
          XNN_DATA_ROOT: repoRoot,
          // Ctrl-C should not wait a minute for an epoch: the run goes back to the queue instead.
          XNN_SHUTDOWN_TIMEOUT_MS: "20000",
        },
      }),
    );
  }
  try {
    await Promise.all(
      workers.map((w) =>
        waitUntilReady(w, async () => logSays(w.logFile, '"msg":"worker ready"'), {
          timeoutMs: 180_000,
          what: "connecting to the queue",
          intervalMs: 500,
        }),
      ),
    );
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop({ timeoutMs: 5_000 })));
    throw err;
  }
  return workers;
}
