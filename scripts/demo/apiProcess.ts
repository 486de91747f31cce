import path from "node:path";
import { type ChildService, spawnService, waitUntilReady } from "./childService";
import { repoRoot, TSX_LOADER } from "./paths";

export interface ApiProcessOptions {
  port: number;
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  dashboardDir: string;
  logFile: string;
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3_000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts the API with the dashboard (apiServer.ts) as a child process, so its request logs go to
 * its own log file instead of between the progress bars. Resolves when /healthz reports both
 * Postgres and Redis reachable from it.
 */
export async function startApiProcess(options: ApiProcessOptions): Promise<ChildService> {
  const api = spawnService({
    name: "api",
    command: process.execPath,
    args: ["--import", TSX_LOADER, path.join(repoRoot, "scripts", "demo", "apiServer.ts")],
    cwd: repoRoot,
    logFile: options.logFile,
    env: {
      ...process.env,
      PORT: String(options.port),
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
      XNN_QUEUE_PREFIX: options.queuePrefix,
      XNN_CONF_DIR: path.join(repoRoot, "conf"),
      XNN_DASHBOARD_DIR: options.dashboardDir,
    },
  });
  try {
    await waitUntilReady(api, () => healthy(options.port), {
      timeoutMs: 120_000,
      what: `answering http://127.0.0.1:${options.port}/healthz`,
      intervalMs: 500,
    });
  } catch (err) {
    await api.stop({ timeoutMs: 5_000 });
    throw err;
  }
  return api;
}
