import path from "node:path";
import { artifactEnvShape } from "@xnn/artifacts";
import { BACKEND_KINDS, parseEnv, postgresUrl, queuePrefix, redisUrl } from "@xnn/shared";
import { z } from "zod";

const backend = z.enum(BACKEND_KINDS).default("auto");
const int = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/** The worker's whole configuration, parsed once at the entry point. */
export function parseWorkerEnv(env: Record<string, string | undefined> = process.env) {
  const parsed = parseEnv(
    {
      DATABASE_URL: postgresUrl,
      REDIS_URL: redisUrl,
      XNN_QUEUE_PREFIX: queuePrefix,
      ...artifactEnvShape,
      /** Relative `data.dir` values in run configs resolve against this. */
      XNN_DATA_ROOT: z.string().min(1).default("."),
      XNN_BACKEND: backend,
      XNN_WORKER_CONCURRENCY: int(1),
      XNN_HEARTBEAT_MS: int(5_000, 100),
      /** How long a job's lock lives without renewal; a stalled job then means a dead worker. */
      XNN_LOCK_DURATION_MS: int(30_000, 1_000),
      XNN_STALLED_INTERVAL_MS: int(15_000, 500),
      /** Worker deaths one run may cause (a stall each) before it fails instead of resuming again. */
      XNN_CRASH_BUDGET: int(20, 0),
      /** Upper bound for a graceful shutdown before the process exits anyway. */
      XNN_SHUTDOWN_TIMEOUT_MS: int(60_000, 1_000),
      /** A training thread that has not loaded its modules and backend by then is ended (it hung). */
      XNN_THREAD_START_TIMEOUT_MS: int(120_000, 1_000),
      /** Supervisor (--gpus/--processes): restart a dead child after a doubling delay, give up after N crashes. */
      XNN_RESTART_MAX_CRASHES: int(5),
      XNN_RESTART_WINDOW_MS: int(600_000, 1_000),
      XNN_RESTART_DELAY_MS: int(1_000, 10),
      XNN_RESTART_MAX_DELAY_MS: int(60_000, 10),
      /** "1": also serve the explain queue (Integrated Gradients for POST /api/predict), in its own thread. */
      XNN_EXPLAIN: z.enum(["0", "1"]).default("1"),
      /** Backend of the explain thread; default: the training backend, wasm beside tensorflow (see README). */
      XNN_EXPLAIN_BACKEND: z.enum(BACKEND_KINDS).optional(),
      /** Weight bytes of the model versions the explain thread keeps warm (least recently used out). */
      XNN_EXPLAIN_MODEL_BYTES: int(512 * 1024 * 1024),
      XNN_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
      CUDA_VISIBLE_DEVICES: z.string().optional(),
    },
    env,
  );
  return {
    ...parsed,
    ARTIFACT_DIR: path.resolve(parsed.ARTIFACT_DIR),
    XNN_ARTIFACT_CACHE_DIR: path.resolve(parsed.XNN_ARTIFACT_CACHE_DIR),
    XNN_DATA_ROOT: path.resolve(parsed.XNN_DATA_ROOT),
  };
}
export type WorkerEnv = ReturnType<typeof parseWorkerEnv>;

/** `pnpm worker --check` needs only the backend: it must run before Postgres and Redis exist. */
export function parseCheckEnv(env: Record<string, string | undefined> = process.env) {
  return parseEnv({ XNN_BACKEND: backend }, env);
}
