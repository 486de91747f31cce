import { randomUUID } from "node:crypto";
import path from "node:path";
import type { ArtifactStore } from "@xnn/artifacts";
import {
  type CheckpointRef,
  cancelKey,
  type Logger,
  type PruneSignal,
  type RunJobPayload,
  type RunJobResult,
  runJobResultSchema,
  StopRequestedError,
} from "@xnn/shared";
import { type Job, UnrecoverableError, WaitingError } from "bullmq";
import type { Redis } from "ioredis";
import { DatasetUnusableError, type Trainer } from "../training/trainInThread";
import { EpochOutbox } from "./epochOutbox";
import { failOnBadArtifact } from "./failOnBadArtifact";
import { localRunConfig } from "./localRunConfig";
import { readPruneSignal, storePrunedCheckpoint, watchPruneSignal } from "./pruneSignal";
import type { WorkerRegistry } from "./registry";
import { LeaseLostError, type ResultsStore } from "./resultsStore";
import { ResumeMirror } from "./resumeMirror";
import type { RunDatasets } from "./runDatasets";
import { artifactFeatureDirs } from "./sharedFeatureDirs";
import { withRetry } from "./withRetry";

export interface RunContext {
  store: ResultsStore;
  artifacts: ArtifactStore;
  registry: WorkerRegistry;
  redis: Redis;
  logger: Logger;
  artifactRoot: string;
  dataRoot: string;
  /** The worker process's one trainer (its backend loaded once), shared by every job. */
  trainer: Trainer;
  /** Set when the process is shutting down: stop at the next batch and hand the job back. */
  shuttingDown: () => boolean;
  onStopRequest: (fn: () => void) => () => void;
  /** Called when BullMQ could not renew this job's lock: another worker may own it by now. */
  onLockLost: (jobId: string, fn: () => void) => () => void;
  /** Worker deaths a run may cause before it fails instead of being resumed again (XNN_CRASH_BUDGET). */
  crashBudget: number;
  /** Registers the data set a run trains on and links the run to its version (absent: not recorded). */
  datasets?: RunDatasets;
}

/** How long a rung check may take before the run goes on without its verdict. */
export const RUNG_CHECK_TIMEOUT_MS = 30_000;

/** The run cannot start: it already ended, or it used up its crash budget. Never retried. */
export class RunNotStartedError extends UnrecoverableError {
  override name = "RunNotStartedError";
}

/**
 * One run, start to finish: fetch the FE checkpoint (FT), resume from the last epoch checkpoint if
 * an earlier attempt died, train in a thread, stream epochs to Postgres, store the final results in
 * one transaction. Shutdown hands the job back to the queue without spending an attempt.
 */
export async function runTrainingJob(
  ctx: RunContext,
  job: Job,
  payload: RunJobPayload,
  token: string | undefined,
  /** This attempt's lease (the lock token, or a fresh id where BullMQ gives none). */
  lease: string = token ?? `${job.id}:${randomUUID()}`,
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
  const prunedBefore = await readPruneSignal(ctx.redis, payload.runId);
  if (prunedBefore) {
    await withRetry("prune", () => store.markPruned(payload.runId, payload.sweepId, prunedBefore, null));
    throw new UnrecoverableError(`run was pruned: ${prunedBefore.reason}`);
  }

  // The lease names this attempt; every write it makes is fenced on it (see ResultsStore).
  const claim = await withRetry(
    "claim run",
    () =>
      store.claimRun(payload.runId, payload.sweepId, {
        workerId: ctx.registry.id,
        attempt: job.attemptsMade + 1,
        token: lease,
        crashBudget: ctx.crashBudget,
      }),
    { onRetry: retryLog("claim run") },
  );
  if (claim.kind === "succeeded") {
    // The previous attempt died between its final save and telling the queue: nothing to train.
    const stored = await withRetry("stored result", () => store.storedResult(payload.runId));
    if (stored) {
      log.info("run already succeeded before this attempt; returning its stored result");
      return runJobResultSchema.parse({
        runId: payload.runId,
        bestCheckpoint: {
          uri: stored.uri,
          sha256: stored.sha256,
          epoch: stored.epoch,
          valF1: stored.valF1 ?? 0,
        },
        testF1: stored.testF1 ?? 0,
        epochs: stored.epochsDone,
      });
    }
  }
  if (claim.kind !== "claimed") {
    const reason =
      claim.kind === "crashBudget" || claim.kind === "ended"
        ? claim.error
        : claim.kind === "missing"
          ? `run ${payload.runId} has no row in the database`
          : "run already succeeded but its checkpoint row is missing";
    log.warn({ claim: claim.kind, reason }, "run not started");
    throw new RunNotStartedError(reason);
  }
  if (claim.resumedCrash)
    log.warn({ crashes: claim.crashes, budget: ctx.crashBudget }, "previous attempt's worker died; resuming");

  const initFrom = payload.feRunId ? await feCheckpointDir(ctx, job, payload, lease) : null;
  if (initFrom) void job.log(`starting from FE checkpoint ${initFrom}`).catch(() => {});
  await ctx.registry.setCurrentRun(payload.runId).catch(() => {});

  const runDir = path.join(ctx.artifactRoot, "runs", payload.runId);
  const { config, resumeHash } = await localRunConfig(payload.config, ctx, (what, read) =>
    failOnBadArtifact(ctx, payload, what, read),
  );
  await linkRunDataset(ctx, payload, config.data.dir);
  const resumeMirror = new ResumeMirror(ctx.artifacts, runDir, payload.runId, log);
  await failOnBadArtifact(ctx, payload, "resume state", () => resumeMirror.pull());

  // The sweep's early-termination rule, where it judges this run: the thread waits at each epoch it
  // judges (its rungs) until the worker has the verdict, so a run pruned there trains nothing more.
  const rule = await store.runRule(payload.runId).catch((err: Error) => {
    log.warn({ err: err.message }, "could not read the sweep's early-termination rule; no rung checks");
    return null;
  });
  let cancelled = false;
  // Set when the sweep's early-termination rule stops this run (a holder: it is set in a callback).
  const prune: { signal: PruneSignal | null } = { signal: null };
  let leaseLost: string | null = null;
  const loseLease = (why: string) => {
    if (leaseLost) return;
    leaseLost = why;
    log.warn({ why }, "lease lost: stopping this attempt, another one owns the run");
    handle.stop();
  };
  /**
   * Ends an attempt that lost its lease. If no other attempt has claimed the run, it is nobody's
   * now: queued again, so that the reconciler re-enqueues it should its job have vanished with the
   * lock (Redis lost its data).
   */
  const abandon = async (why: string): Promise<never> => {
    await withRetry("release run", () => store.releaseRun(payload.runId, lease, `attempt lost: ${why}`));
    throw new LeaseLostError(why);
  };
  const outbox = new EpochOutbox(store, payload.runId, lease, retryLog("epoch metrics"), (err) => {
    if (err instanceof LeaseLostError) loseLease(err.message);
  });

  const stopForPrune = (signal: PruneSignal, how: string) => {
    if (prune.signal) return;
    log.info({ reason: signal.reason }, how);
    prune.signal = signal;
    handle.stopAfterEpoch();
  };
  /**
   * At a rung: once the epoch is in Postgres, the rule's verdict (the scheduler's, should it have
   * come first), then the gate opens. A check that fails or outlasts RUNG_CHECK_TIMEOUT_MS lets the
   * run go on: the search scheduler still judges it, one epoch later.
   */
  const checkRung = async (epoch: number) => {
    try {
      const signal = await withTimeout(RUNG_CHECK_TIMEOUT_MS, async () => {
        await outbox.drain();
        return (
          (rule ? await store.judgeRun(payload.runId, rule) : null) ??
          (await readPruneSignal(ctx.redis, payload.runId))
        );
      });
      if (signal)
        stopForPrune(
          signal,
          `pruned at epoch ${epoch} by the sweep's early-termination rule; stopping before the next epoch`,
        );
    } catch (err) {
      log.warn({ epoch, err: (err as Error).message }, "rung check failed; the run goes on");
    } finally {
      handle.openGate(epoch);
    }
  };

  // A pruned run finishes the epoch in progress (recorded, validated, checkpointed) and ends there;
  // a cancel or a shutdown stops at the next batch and drops it. Made before train(): a trainer may
  // report an epoch inside that call (the no-op trainer does), and the epoch callback checks it. Its
  // own callback runs after a Redis round trip, when `handle` is set.
  const pruneWatch = watchPruneSignal(ctx.redis, payload.runId, (signal) =>
    stopForPrune(
      signal,
      "pruned by the sweep's early-termination rule; stopping after the epoch in progress",
    ),
  );
  const handle = ctx.trainer.train(
    { config, resumeHash, runDir, initFrom, epochGates: rule?.epochs ?? [], shareFeatures: true },
    {
      features: artifactFeatureDirs(ctx.artifacts),
      gate: (epoch) => void checkRung(epoch),
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
        pruneWatch.check();
      },
    },
  );
  const unsubscribeStop = ctx.onStopRequest(() => handle.stop());
  const unsubscribeLock = ctx.onLockLost(String(job.id), () =>
    loseLease("BullMQ could not renew the job's lock"),
  );
  const unsubscribe = () => {
    unsubscribeStop();
    unsubscribeLock();
    pruneWatch.stop();
  };

  let outcome: Awaited<typeof handle.done>;
  try {
    outcome = await handle.done;
  } catch (err) {
    unsubscribe();
    await outbox.drain().catch((e) => log.error({ err: e.message }, "could not write epoch metrics"));
    await ctx.registry.setCurrentRun(null).catch(() => {});
    if (leaseLost) await abandon(leaseLost);
    if (err instanceof StopRequestedError) {
      const pruned = prune.signal;
      if (pruned) {
        const checkpoint = await storePrunedCheckpoint(ctx.artifacts, runDir, payload.runId, log);
        await withRetry("prune", () =>
          store.markPruned(payload.runId, payload.sweepId, pruned, checkpoint, lease),
        );
        await resumeMirror.discard();
        throw new UnrecoverableError(`run was pruned: ${pruned.reason}`);
      }
      if (cancelled) {
        await withRetry("cancel", () =>
          store.markEnded(payload.runId, payload.sweepId, "cancelled", "cancelled by request", lease),
        );
        throw new UnrecoverableError("run was cancelled");
      }
      // Shutdown: hand the job back untouched; whoever takes it resumes from the last epoch checkpoint.
      log.info("stopping for shutdown; job returned to the queue");
      await resumeMirror.flush();
      await withRetry("release run", () => store.releaseRun(payload.runId, lease, null));
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (err instanceof DatasetUnusableError)
      throw new UnrecoverableError(`data set unusable: ${(err as Error).message}`);
    throw err;
  }
  unsubscribe();
  if (prune.signal)
    log.info(
      { reason: prune.signal.reason },
      "the prune request came after the last epoch; the run completes",
    );
  for (const s of outcome.skipped)
    void job.log(`skipped unreadable image ${s.path}: ${s.reason}`).catch(() => {});
  if (outcome.skipped.length > 0) log.warn({ count: outcome.skipped.length }, "unreadable images skipped");

  const r = outcome.result;
  const uri = await storeCheckpoint(ctx, payload.runId, r);
  await outbox.drain();
  if (leaseLost) await abandon(leaseLost);
  await withRetry(
    "final results",
    () =>
      store.saveFinal(payload.runId, payload.sweepId, { ...r, checkpoint: { ...r.checkpoint, uri } }, lease),
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
      backendInits: outcome.initCount,
      ...(r.explanation
        ? {
            completenessGap: r.explanation.completenessGap,
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

async function withTimeout<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no verdict within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([fn(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A record of the data, not a condition of training: a failure is logged and the run goes on. */
async function linkRunDataset(ctx: RunContext, payload: RunJobPayload, localDir: string): Promise<void> {
  if (!ctx.datasets) return;
  const named = payload.config.data.dir;
  const root = named.startsWith("s3://") ? named : localDir;
  try {
    await ctx.datasets.linkRun(payload.runId, root, localDir);
  } catch (err) {
    ctx.logger.warn(
      { runId: payload.runId, root, err: (err as Error).message },
      "could not register the data set",
    );
  }
}

/** The FE run's best checkpoint, from the child job's result (or the database); FE failure fails FT. */
async function feCheckpointDir(
  ctx: RunContext,
  job: Job,
  payload: RunJobPayload,
  lease: string,
): Promise<string> {
  const failures = await job.getIgnoredChildrenFailures();
  const failure = Object.values(failures)[0];
  if (failure !== undefined) {
    const reason = `FE run ${payload.feRunId} failed: ${failure}`;
    await withRetry("mark failed", () =>
      ctx.store.markEnded(payload.runId, payload.sweepId, "failed", reason, lease),
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
        ctx.store.markEnded(payload.runId, payload.sweepId, "failed", reason, lease),
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

/** The best checkpoint into the artifact store; its URI. A trainer that wrote none (benchmarks) uploads nothing. */
async function storeCheckpoint(
  ctx: RunContext,
  runId: string,
  r: { checkpointDir: string | null; checkpoint: { sha256: string } },
): Promise<string> {
  const key = path.join("runs", runId, "checkpoint");
  if (r.checkpointDir === null) return ctx.artifacts.uriFor(key);
  const stored = await ctx.artifacts.putDir(r.checkpointDir, key, { digestOf: CHECKPOINT_DIGEST_OF });
  if (stored.sha256 !== r.checkpoint.sha256)
    throw new Error(
      `stored checkpoint ${stored.uri} has sha256 ${stored.sha256}, training wrote ${r.checkpoint.sha256}`,
    );
  return stored.uri;
}
