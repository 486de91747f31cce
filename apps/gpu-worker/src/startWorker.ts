import { artifactStoreFromEnv, verifyArtifactStore } from "@xnn/artifacts";
import { createSql } from "@xnn/db";
import { createLogger, createRedis, RUNS_QUEUE } from "@xnn/shared";
import { Worker } from "bullmq";
import type { WorkerEnv } from "./env";
import { detectGpus } from "./gpus";
import { createProcessor } from "./processor";
import { WorkerRegistry } from "./services/registry";
import { ResultsStore } from "./services/resultsStore";

export const WORKER_VERSION = "0.1.0";

export interface RunningWorker {
  id: string;
  /** Graceful: stop taking jobs, stop the current run at its next batch, hand it back, close everything. */
  close(): Promise<void>;
}

export async function startWorker(env: WorkerEnv): Promise<RunningWorker> {
  const logger = createLogger("gpu-worker", env.XNN_LOG_LEVEL);
  // Before anything registers: a worker that cannot store its results must not take jobs.
  const artifacts = artifactStoreFromEnv(env);
  await verifyArtifactStore(artifacts, { write: true });
  const sql = createSql(env.DATABASE_URL, { max: Math.min(20, env.XNN_WORKER_CONCURRENCY + 3) });
  const redis = createRedis(env.REDIS_URL, "worker");
  const gpus = await detectGpus();
  const visible = env.CUDA_VISIBLE_DEVICES?.split(",").map(Number);
  const registry = new WorkerRegistry(sql, {
    gpus: visible ? gpus.filter((g) => visible.includes(g.index)) : gpus,
    backend: env.XNN_BACKEND,
    version: WORKER_VERSION,
  });
  await registry.register();
  registry.startHeartbeat(env.XNN_HEARTBEAT_MS, (err) =>
    logger.warn({ err: err.message }, "heartbeat failed"),
  );

  let shuttingDown = false;
  const stopListeners = new Set<() => void>();
  const store = new ResultsStore(sql);
  const processor = createProcessor(
    {
      store,
      artifacts,
      registry,
      redis,
      logger,
      artifactRoot: env.ARTIFACT_DIR,
      dataRoot: env.XNN_DATA_ROOT,
      backend: env.XNN_BACKEND,
      trainer: env.XNN_TRAINER,
      shuttingDown: () => shuttingDown,
      onStopRequest: (fn) => {
        stopListeners.add(fn);
        return () => stopListeners.delete(fn);
      },
    },
    logger,
  );
  const worker = new Worker(RUNS_QUEUE, processor, {
    connection: redis,
    prefix: env.XNN_QUEUE_PREFIX,
    concurrency: env.XNN_WORKER_CONCURRENCY,
    lockDuration: env.XNN_LOCK_DURATION_MS,
    stalledInterval: env.XNN_STALLED_INTERVAL_MS,
    // A crash mid-run stalls the job; it must be picked up again (and resumed), not failed.
    maxStalledCount: 3,
  });
  worker.on("error", (err) => logger.error({ err: err.message }, "worker error"));
  worker.on("active", (job) => logger.info({ jobId: job.id, runId: job.data?.runId }, "job started"));
  worker.on("completed", (job) => logger.info({ jobId: job.id }, "job completed"));
  worker.on("failed", (job, err) => logger.warn({ jobId: job?.id, err: err.message }, "job failed"));
  await worker.waitUntilReady();
  logger.info(
    {
      workerId: registry.id,
      queue: RUNS_QUEUE,
      prefix: env.XNN_QUEUE_PREFIX,
      gpus,
      backend: env.XNN_BACKEND,
    },
    "worker ready",
  );

  return {
    id: registry.id,
    async close() {
      shuttingDown = true;
      const closing = worker.close();
      for (const stop of stopListeners) stop();
      await closing;
      await registry
        .markGone()
        .catch((err) => logger.warn({ err: err.message }, "could not mark worker gone"));
      redis.disconnect();
      await sql.end({ timeout: 5 });
      artifacts.close();
      logger.info({ workerId: registry.id }, "worker stopped");
    },
  };
}
