import { artifactStoreFromEnv, verifyArtifactStore } from "@xnn/artifacts";
import { createSql } from "@xnn/db";
import { startExplainWorker } from "@xnn/serving";
import { type BackendKind, createLogger, createRedis, RUNS_QUEUE } from "@xnn/shared";
import { Worker } from "bullmq";
import type { WorkerEnv } from "./env";
import { detectGpus } from "./gpus";
import { createProcessor } from "./processor";
import { describeDevice, WorkerRegistry } from "./services/registry";
import { ResultsStore } from "./services/resultsStore";
import { RunDatasets } from "./services/runDatasets";
import { ThreadTrainer, type Trainer } from "./training/trainInThread";

export const WORKER_VERSION = "0.1.0";

/** BullMQ's own stall limit: well past the crash budget, so that Postgres decides. */
export const stallBackstop = (crashBudget: number) => crashBudget * 2 + 10;

/**
 * The explain thread's backend: as asked, else the training backend, except beside tensorflow:
 * libtensorflow's addon is not known to load in a second thread of one process (tensorflow/tfjs#2079),
 * so explanations then run on wasm.
 */
export function explainBackend(
  asked: BackendKind | undefined,
  training: BackendKind,
  trainingInUse: string,
): BackendKind {
  if (asked) return asked;
  return trainingInUse === "tensorflow" ? "wasm" : training;
}

export interface RunningWorker {
  id: string;
  /** Graceful: stop taking jobs, stop the current run at its next batch, hand it back, close everything. */
  close(): Promise<void>;
}

/** `trainer`: what runs the jobs instead of TF.js training threads (benchmarks inject a no-op one). */
export async function startWorker(env: WorkerEnv, opts: { trainer?: Trainer } = {}): Promise<RunningWorker> {
  const logger = createLogger("gpu-worker", env.XNN_LOG_LEVEL);
  // Before anything registers: a worker that cannot store its results must not take jobs.
  const artifacts = artifactStoreFromEnv(env);
  await verifyArtifactStore(artifacts, { write: true });
  // The backend is loaded once, before the first job: a host that cannot run what was asked for
  // fails here, with the reason, instead of failing every job it takes.
  const trainer =
    opts.trainer ??
    new ThreadTrainer(
      env.XNN_BACKEND,
      (msg, fields, level) => (level === "warn" ? logger.warn(fields, msg) : logger.info(fields, msg)),
      env.XNN_THREAD_START_TIMEOUT_MS,
    );
  const inUse = await trainer.start().catch(async (err: Error) => {
    await trainer.close();
    throw err;
  });
  logger.info({ requested: env.XNN_BACKEND, ...inUse }, "backend ready");
  if (inUse.backend === "tensorflow" && env.XNN_WORKER_CONCURRENCY > 1) {
    await trainer.close();
    // Each concurrent job gets a training thread, and libtensorflow's addon is not known to load
    // in a second thread of one process (tensorflow/tfjs#2079, #8388).
    throw new Error(
      `XNN_WORKER_CONCURRENCY=${env.XNN_WORKER_CONCURRENCY} with the tensorflow backend: it runs one job per process; use one process per GPU (pnpm worker --gpus ...) instead`,
    );
  }
  const sql = createSql(env.DATABASE_URL, { max: Math.min(20, env.XNN_WORKER_CONCURRENCY + 3) });
  const redis = createRedis(env.REDIS_URL, "worker");
  const gpus = await detectGpus();
  const visible = env.CUDA_VISIBLE_DEVICES?.split(",").map(Number);
  const visibleGpus = visible ? gpus.filter((g) => visible.includes(g.index)) : gpus;
  const registry = new WorkerRegistry(sql, {
    gpus: visibleGpus,
    backend: inUse.backend,
    device: describeDevice(inUse.device, visibleGpus),
    version: WORKER_VERSION,
    explains: env.XNN_EXPLAIN === "1",
  });
  // Explanations run in their own thread beside the training thread, so a request never waits for
  // an epoch and neither ever blocks this event loop (lock renewal, heartbeats).
  const explainer =
    env.XNN_EXPLAIN === "1"
      ? await startExplainWorker({
          redis,
          prefix: env.XNN_QUEUE_PREFIX,
          artifacts,
          workerId: registry.id,
          backend: explainBackend(env.XNN_EXPLAIN_BACKEND, env.XNN_BACKEND, inUse.backend),
          maxModelBytes: env.XNN_EXPLAIN_MODEL_BYTES,
          threadStartTimeoutMs: env.XNN_THREAD_START_TIMEOUT_MS,
          logger,
        }).catch(async (err: Error) => {
          await trainer.close();
          redis.disconnect();
          await sql.end({ timeout: 5 });
          throw err;
        })
      : null;
  await registry.register();
  registry.startHeartbeat(env.XNN_HEARTBEAT_MS, (err) =>
    logger.warn({ err: err.message }, "heartbeat failed"),
  );

  let shuttingDown = false;
  const stopListeners = new Set<() => void>();
  const lockLostListeners = new Map<string, () => void>();
  const store = new ResultsStore(sql);
  const datasets = new RunDatasets(sql, `worker:${registry.id}`);
  const processor = createProcessor(
    {
      store,
      artifacts,
      registry,
      redis,
      logger,
      artifactRoot: env.ARTIFACT_DIR,
      dataRoot: env.XNN_DATA_ROOT,
      datasets,
      trainer,
      shuttingDown: () => shuttingDown,
      onStopRequest: (fn) => {
        stopListeners.add(fn);
        return () => stopListeners.delete(fn);
      },
      onLockLost: (jobId, fn) => {
        lockLostListeners.set(jobId, fn);
        return () => lockLostListeners.delete(jobId);
      },
      crashBudget: env.XNN_CRASH_BUDGET,
    },
    logger,
  );
  const worker = new Worker(RUNS_QUEUE, processor, {
    connection: redis,
    prefix: env.XNN_QUEUE_PREFIX,
    concurrency: env.XNN_WORKER_CONCURRENCY,
    lockDuration: env.XNN_LOCK_DURATION_MS,
    stalledInterval: env.XNN_STALLED_INTERVAL_MS,
    // A crash mid-run stalls the job; it must be picked up again (and resumed), not failed. The
    // run's crash budget in Postgres decides when to give up (claimRun); BullMQ's stall limit is
    // only a backstop far above it, whose failures the reconciler writes to the run.
    maxStalledCount: stallBackstop(env.XNN_CRASH_BUDGET),
  });
  // The lock could not be renewed (this process was cut off from Redis for longer than the lock):
  // the job may be running elsewhere already, so this attempt stops and writes nothing more.
  worker.on("lockRenewalFailed", (jobIds: string[]) => {
    for (const id of jobIds) lockLostListeners.get(id)?.();
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
      backend: inUse.backend,
      device: inUse.device,
    },
    "worker ready",
  );

  return {
    id: registry.id,
    async close() {
      shuttingDown = true;
      // An explanation in progress finishes (seconds); a training run stops at its next batch.
      const closing = Promise.all([worker.close(), explainer?.close()]);
      for (const stop of stopListeners) stop();
      await closing;
      await trainer.close();
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
