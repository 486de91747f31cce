import path from "node:path";
import { type ArtifactStore, localDataDir } from "@xnn/artifacts";
import {
  type CheckpointRef,
  type Logger,
  type RunJobPayload,
  type RunJobResult,
  runJobResultSchema,
} from "@xnn/shared";
import { type Job, UnrecoverableError, WaitingError } from "bullmq";
import type { Redis } from "ioredis";
import { noopTrainer } from "../training/noopTrainer";
import { DatasetUnusableError, TrainingStoppedError, trainInThread } from "../training/trainInThread";
import { EpochOutbox } from "./epochOutbox";
import { failOnBadArtifact } from "./failOnBadArtifact";
import type { WorkerRegistry } from "./registry";
import type { ResultsStore } from "./resultsStore";
import { ResumeMirror } from "./resumeMirror";
import { withRetry } from "./withRetry";

export interface RunContext {
  store: ResultsStore;
  artifacts: ArtifactStore;
  registry: WorkerRegistry;
  redis: Redis;
  logger: Logger;
  artifactRoot: string;
  dataRoot: string;
  backend: "auto" | "tensorflow" | "wasm" | "cpu";
  /** The TF.js engine in a thread; "noop" only for queue benchmarks. */
  trainer: "tfjs" | "noop";
  /** Set when the process is shutting down: stop at the next batch and hand the job back. */
  shuttingDown: () => boolean;
  onStopRequest: (fn: () => void) => () => void;
}

/** Key the API sets to ask a running run to stop at its next epoch boundary. */
export const cancelKey = (runId: string) => `xnn:cancel:${runId}`;

/**
 * One run, start to finish: fetch the FE checkpoint (FT), resume from the last epoch checkpoint if
 * an earlier attempt died, train in a thread, stream epochs to Postgres, store the final results in
 * one transaction. Shutdown hands the job back to the queue without spending an attempt.
 */
export async function runTrainingJob(
  ctx: RunContext,
  job: Job,
  payload: RunJobPayload,
  token?: string,
): Promise<RunJobResult> {
  const { store, logger } = ctx;
  const log = logger.child({ runId: payload.runId, jobId: job.id, attempt: job.attemptsMade + 1 });
  const retryLog = (what: string) => (err: Error, attempt: number) =>
    log.warn({ err: err.message, attempt }, `${what}: database unreachable, retrying`);

  if (await ctx.redis.get(cancelKey(payload.runId))) {
    await withRetry("cancel", () =>
      store.markEnded(payload.runId, payload.sweepId, "cancelled", "cancelled before it started"),
    );
    throw new UnrecoverableError("run was cancelled");
  }

  const initFrom = payload.feRunId ? await feCheckpointDir(ctx, job, payload) : null;
  if (initFrom) void job.log(`starting from FE checkpoint ${initFrom}`).catch(() => {});
  await withRetry(
    "mark running",
    () => store.markRunning(payload.runId, payload.sweepId, ctx.registry.id, job.attemptsMade + 1),
    {
      onRetry: retryLog("mark running"),
    },
  );
  await ctx.registry.setCurrentRun(payload.runId).catch(() => {});

  const runDir = path.join(ctx.artifactRoot, "runs", payload.runId);
  const config = structuredClone(payload.config);
  config.data.dir = await failOnBadArtifact(ctx, payload, `data set ${config.data.dir}`, () =>
    localDataDir(ctx.artifacts, config.data.dir, ctx.dataRoot),
  );
  const outbox = new EpochOutbox(store, payload.runId, retryLog("epoch metrics"));
  const resumeMirror = new ResumeMirror(ctx.artifacts, runDir, payload.runId, log);
  await failOnBadArtifact(ctx, payload, "resume state", () => resumeMirror.pull());

  let cancelled = false;
  const handle = (ctx.trainer === "noop" ? noopTrainer : trainInThread)(
    { config, runDir, initFrom, backend: ctx.backend },
    {
      log: (msg, fields, level) => {
        if (level === "warn") log.warn(fields ?? {}, msg);
        else log.info(fields ?? {}, msg);
        void job.log(`${msg}${fields ? ` ${JSON.stringify(fields)}` : ""}`).catch(() => {});
      },
      resumed: (epoch, history) => {
        log.info({ epoch }, "resuming from epoch checkpoint");
        void job.log(`resumed after epoch ${epoch}`).catch(() => {});
        // Re-written because the crash may have come before they reached the database.
        outbox.push(...history);
      },
      epoch: (m) => {
        outbox.push(m);
        resumeMirror.push();
        void job
          .updateProgress({
            epoch: m.epoch,
            epochs: config.train.epochs,
            valF1: m.val.f1,
            valLoss: m.val.loss,
          })
          .catch(() => {});
        void ctx.redis.get(cancelKey(payload.runId)).then((v) => {
          if (v) {
            cancelled = true;
            handle.stop();
          }
        });
      },
    },
  );
  const unsubscribe = ctx.onStopRequest(() => handle.stop());

  let outcome: Awaited<typeof handle.done>;
  try {
    outcome = await handle.done;
  } catch (err) {
    unsubscribe();
    await outbox.drain().catch((e) => log.error({ err: e.message }, "could not write epoch metrics"));
    await ctx.registry.setCurrentRun(null).catch(() => {});
    if (err instanceof TrainingStoppedError) {
      if (cancelled) {
        await withRetry("cancel", () =>
          store.markEnded(payload.runId, payload.sweepId, "cancelled", "cancelled by request"),
        );
        throw new UnrecoverableError("run was cancelled");
      }
      // Shutdown: hand the job back untouched; whoever takes it resumes from the last epoch checkpoint.
      log.info("stopping for shutdown; job returned to the queue");
      await resumeMirror.flush();
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (err instanceof DatasetUnusableError)
      throw new UnrecoverableError(`data set unusable: ${(err as Error).message}`);
    throw err;
  }
  unsubscribe();
  for (const s of outcome.skipped)
    void job.log(`skipped unreadable image ${s.path}: ${s.reason}`).catch(() => {});
  if (outcome.skipped.length > 0) log.warn({ count: outcome.skipped.length }, "unreadable images skipped");

  const r = outcome.result;
  const uri = await storeCheckpoint(ctx, payload.runId, r);
  await outbox.drain();
  await withRetry(
    "final results",
    () => store.saveFinal(payload.runId, payload.sweepId, { ...r, checkpoint: { ...r.checkpoint, uri } }),
    { onRetry: retryLog("final results") },
  );
  await ctx.registry.setCurrentRun(null).catch(() => {});
  await resumeMirror.discard();
  log.info(
    {
      testF1: r.test.f1,
      bestEpoch: r.bestEpoch,
      epochs: r.epochsRun,
      backend: outcome.backend,
      ...(r.explanation
        ? {
            explainGap: r.explanation.meanCompletenessGap,
            deletionAuc: r.explanation.deletionAuc,
            insertionAuc: r.explanation.insertionAuc,
            maskShare: r.explanation.maskShare,
            explainMs: r.explanation.durationMs,
          }
        : {}),
    },
    "run succeeded",
  );
  const checkpoint: CheckpointRef = {
    uri,
    sha256: r.checkpoint.sha256,
    epoch: r.checkpoint.epoch,
    valF1: r.bestValF1,
  };
  return runJobResultSchema.parse({
    runId: payload.runId,
    bestCheckpoint: checkpoint,
    testF1: r.test.f1,
    epochs: r.epochsRun,
  });
}

/** The FE run's best checkpoint, from the child job's result (or the database); FE failure fails FT. */
async function feCheckpointDir(ctx: RunContext, job: Job, payload: RunJobPayload): Promise<string> {
  const failures = await job.getIgnoredChildrenFailures();
  const failure = Object.values(failures)[0];
  if (failure !== undefined) {
    const reason = `FE run ${payload.feRunId} failed: ${failure}`;
    await withRetry("mark failed", () =>
      ctx.store.markEnded(payload.runId, payload.sweepId, "failed", reason),
    );
    throw new UnrecoverableError(reason);
  }
  const values = Object.values(await job.getChildrenValues());
  let ref: CheckpointRef | null = null;
  for (const v of values) {
    const parsed = runJobResultSchema.safeParse(v);
    if (parsed.success && parsed.data.runId === payload.feRunId) ref = parsed.data.bestCheckpoint;
  }
  if (!ref) {
    const row = await withRetry("FE checkpoint", () => ctx.store.bestCheckpoint(payload.feRunId!));
    if (row?.status === "succeeded" && row.uri)
      ref = { uri: row.uri, sha256: row.sha256, epoch: row.epoch, valF1: row.valF1 ?? 0 };
    else {
      const reason = `FE run ${payload.feRunId} has no checkpoint (status ${row?.status ?? "missing"}${row?.error ? `: ${row.error}` : ""})`;
      await withRetry("mark failed", () =>
        ctx.store.markEnded(payload.runId, payload.sweepId, "failed", reason),
      );
      throw new UnrecoverableError(reason);
    }
  }
  const { uri, sha256 } = ref;
  return failOnBadArtifact(ctx, payload, `FE checkpoint of run ${payload.feRunId}`, () =>
    ctx.artifacts.getDir(uri, { sha256 }),
  );
}

/** The bytes a checkpoint's recorded sha256 covers (packages/ml saveCheckpoint). */
const CHECKPOINT_DIGEST_OF = ["model.json", "weights.bin"];

/** The best checkpoint into the artifact store; its URI. The noop trainer (benchmarks) writes none. */
async function storeCheckpoint(
  ctx: RunContext,
  runId: string,
  r: { checkpointDir: string; checkpoint: { sha256: string } },
): Promise<string> {
  const key = path.join("runs", runId, "checkpoint");
  if (ctx.trainer === "noop") return ctx.artifacts.uriFor(key);
  const stored = await ctx.artifacts.putDir(r.checkpointDir, key, { digestOf: CHECKPOINT_DIGEST_OF });
  if (stored.sha256 !== r.checkpoint.sha256)
    throw new Error(
      `stored checkpoint ${stored.uri} has sha256 ${stored.sha256}, training wrote ${r.checkpoint.sha256}`,
    );
  return stored.uri;
}
