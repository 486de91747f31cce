import path from "node:path";
import { artifactEnvShape } from "@xnn/artifacts";
import { parseEnv, postgresUrl, queuePrefix, redisUrl } from "@xnn/shared";
import { z } from "zod";

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
      XNN_BACKEND: z.enum(["auto", "tensorflow", "wasm", "cpu"]).default("auto"),
      XNN_WORKER_CONCURRENCY: int(1),
      /** "noop" replaces training with a fixed result: for `pnpm bench queue` only. */
      XNN_TRAINER: z.enum(["tfjs", "noop"]).default("tfjs"),
      XNN_HEARTBEAT_MS: int(5_000, 100),
      /** How long a job's lock lives without renewal; a stalled job then means a dead worker. */
      XNN_LOCK_DURATION_MS: int(30_000, 1_000),
      XNN_STALLED_INTERVAL_MS: int(15_000, 500),
      /** Upper bound for a graceful shutdown before the process exits anyway. */
      XNN_SHUTDOWN_TIMEOUT_MS: int(60_000, 1_000),
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
