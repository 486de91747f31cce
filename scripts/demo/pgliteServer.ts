import { mkdirSync } from "node:fs";
import path from "node:path";
import { type ChildService, spawnService, waitUntilReady } from "./childService";
import { freePort, portOpen } from "./freePort";
import { repoRoot, TSX_LOADER } from "./paths";

/**
 * Every query runs one at a time in the one PGlite session anyway, so sockets are cheap: the limit
 * only has to cover every pool's maximum at once (API 3 + 3 + a LISTEN, demo 2, two workers 4 each,
 * the migration runner 1 = 18), with room for a psql or two.
 */
export const PGLITE_MAX_CONNECTIONS = 32;

export interface RunningPglite {
  url: string;
  port: number;
  service: ChildService;
  stop(): Promise<void>;
}

const SERVER_ENTRY = path.join(repoRoot, "scripts", "demo", "pgliteServerProcess.ts");

/**
 * Serves PGlite (Postgres in WebAssembly, data kept in `dataDir`) over the Postgres wire protocol on
 * a free local port, in a child process so that the API and the workers, which are other processes,
 * share one database. The first start runs initdb, which takes several seconds on a loaded machine.
 */
export async function startPgliteServer(options: {
  dataDir: string;
  logFile: string;
  port?: number;
  timeoutMs?: number;
}): Promise<RunningPglite> {
  mkdirSync(path.dirname(options.dataDir), { recursive: true });
  const port = options.port ?? (await freePort());
  const service = spawnService({
    name: "pglite-server",
    command: process.execPath,
    args: [
      "--import",
      TSX_LOADER,
      SERVER_ENTRY,
      `--db=${options.dataDir}`,
      "--host=127.0.0.1",
      `--port=${port}`,
      `--max-connections=${PGLITE_MAX_CONNECTIONS}`,
    ],
    logFile: options.logFile,
    cwd: repoRoot,
  });
  const stop = async () => {
    // SIGTERM lets it close the database files cleanly; killing it mid-write can corrupt the data dir.
    await service.stop({ signal: "SIGTERM", timeoutMs: 15_000 });
  };
  try {
    await waitUntilReady(service, () => portOpen(port), {
      timeoutMs: options.timeoutMs ?? 120_000,
      what: `listening on 127.0.0.1:${port}`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  // The server answers SSLRequest with "N"; saying so up front saves clients a round trip and keeps
  // libraries that default to TLS from failing.
  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
  return { url, port, service, stop };
}
