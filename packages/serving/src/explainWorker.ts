import { ArtifactIntegrityError, ArtifactNotFoundError, type ArtifactStore } from "@xnn/artifacts";
import {
  type BackendKind,
  EXPLAIN_CACHE_TTL_S,
  EXPLAIN_FAILURE,
  EXPLAIN_QUEUE,
  type ExplainJobPayload,
  type ExplainJobResult,
  explainCacheKey,
  explainJobPayloadSchema,
  formatPath,
  type Logger,
  sha256,
} from "@xnn/shared";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { ExplainImageError, ExplainThread } from "./explainInThread";
import { explainKeyOf } from "./explainKeyOf";

/** Default budget for the weights a worker keeps warm: a few ResNet/MobileNet-sized versions. */
export const DEFAULT_MAX_MODEL_BYTES = 512 * 1024 * 1024;

export interface ExplainWorkerOptions {
  /** A worker-role connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  redis: Redis;
  prefix: string;
  artifacts: ArtifactStore;
  /** Names this worker in results and logs (the Worker row's id). */
  workerId: string;
  backend: BackendKind;
  /** Budget for the weights of the warm model versions; least recently used out. */
  maxModelBytes?: number;
  threadStartTimeoutMs?: number;
  logger: Logger;
}

export interface RunningExplainWorker {
  thread: ExplainThread;
  /** Backend the thread runs on. */
  backend: string;
  close(): Promise<void>;
}

/** Queued data may have been written by older code: parsed, never trusted; the message names the field. */
export function describeExplainPayloadProblem(data: unknown): string | null {
  const parsed = explainJobPayloadSchema.safeParse(data);
  if (parsed.success) return null;
  return parsed.error.issues
    .map((i) => {
      const field =
        formatPath(i.code === "unrecognized_keys" ? [...i.path, i.keys[0]!] : i.path) || "(payload)";
      if (i.code === "invalid_type" && i.input === undefined) return `missing field "${field}"`;
      if (i.code === "unrecognized_keys") return `unexpected field "${field}"`;
      return `field "${field}": ${i.message}`;
    })
    .join("; ");
}

async function verifiedCheckpoint(artifacts: ArtifactStore, p: ExplainJobPayload): Promise<string> {
  const name = `model version ${p.modelVersion.version} of task ${p.modelVersion.task} (${p.modelVersion.id})`;
  try {
    return await artifacts.getDir(p.checkpoint.uri, { sha256: p.checkpoint.sha256 });
  } catch (err) {
    if (err instanceof ArtifactNotFoundError)
      throw new UnrecoverableError(
        `${EXPLAIN_FAILURE.badCheckpoint}${name}: its checkpoint ${p.checkpoint.uri} is missing from the artifact store`,
      );
    if (err instanceof ArtifactIntegrityError)
      throw new UnrecoverableError(
        `${EXPLAIN_FAILURE.badCheckpoint}${name}: its checkpoint failed verification: ${err.message}`,
      );
    throw err;
  }
}

/** Thin: validate, explain in the thread, keep the answer in the cache, return it. */
export function createExplainProcessor(
  opts: Pick<ExplainWorkerOptions, "redis" | "prefix" | "artifacts" | "workerId">,
  thread: ExplainThread,
) {
  return async (job: Job): Promise<ExplainJobResult> => {
    const problem = describeExplainPayloadProblem(job.data);
    if (problem) throw new UnrecoverableError(`invalid explain job payload: ${problem}`);
    const p = explainJobPayloadSchema.parse(job.data);
    const image = Buffer.from(p.image, "base64");
    if (sha256(image) !== p.imageSha256)
      throw new UnrecoverableError(
        'invalid explain job payload: field "imageSha256" does not match the image bytes',
      );
    let outcome: Awaited<ReturnType<ExplainThread["explain"]>>;
    try {
      outcome = await thread.explain({
        versionId: p.modelVersion.id,
        imageSize: p.imageSize,
        classNames: p.classNames,
        image,
        settings: p.settings,
        checkpointDir: () => verifiedCheckpoint(opts.artifacts, p),
      });
    } catch (err) {
      if (err instanceof ExplainImageError)
        throw new UnrecoverableError(`${EXPLAIN_FAILURE.badImage}${err.message}`);
      throw err;
    }
    const result: ExplainJobResult = {
      explanation: {
        predictedClass: outcome.predictedClass,
        probabilities: outcome.probabilities,
        modelVersion: p.modelVersion,
        completenessGap: outcome.completenessGap,
        stepsUsed: outcome.stepsUsed,
        baseline: outcome.baseline,
        overlayPng: Buffer.from(outcome.overlayPng).toString("base64"),
      },
      served: { workerId: opts.workerId, coldLoad: outcome.coldLoad, computeMs: outcome.computeMs },
    };
    // Written here, not by the requester: an answer that came too late for it serves its retry.
    const key = explainKeyOf(p.modelVersion.id, p.imageSha256, p.settings);
    await opts.redis.set(
      explainCacheKey(opts.prefix, key),
      JSON.stringify(result.explanation),
      "EX",
      EXPLAIN_CACHE_TTL_S,
    );
    return result;
  };
}

/**
 * A BullMQ worker on the explain queue whose Integrated Gradients run in one long-lived thread, so
 * neither this process's event loop (lock renewal of a training job beside it, heartbeats) nor
 * anyone else's waits for them. One job at a time: an explanation saturates the core it runs on.
 */
export async function startExplainWorker(opts: ExplainWorkerOptions): Promise<RunningExplainWorker> {
  const thread = new ExplainThread(
    { backend: opts.backend, maxModelBytes: opts.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES },
    opts.threadStartTimeoutMs,
  );
  const ready = await thread.start().catch(async (err: Error) => {
    await thread.close();
    throw err;
  });
  const worker = new Worker(EXPLAIN_QUEUE, createExplainProcessor(opts, thread), {
    connection: opts.redis,
    prefix: opts.prefix,
    concurrency: 1,
  });
  worker.on("error", (err) => opts.logger.error({ err: err.message }, "explain worker error"));
  worker.on("failed", (job, err) =>
    opts.logger.warn({ jobId: job?.id, err: err.message }, "explanation failed"),
  );
  worker.on("completed", (job, result: ExplainJobResult) =>
    opts.logger.info(
      {
        jobId: job.id,
        modelVersion: result.explanation.modelVersion.id,
        coldLoad: result.served.coldLoad,
        ms: Math.round(result.served.computeMs),
      },
      "explained",
    ),
  );
  await worker.waitUntilReady();
  opts.logger.info(
    { queue: EXPLAIN_QUEUE, prefix: opts.prefix, backend: ready.backend },
    "serving explanations",
  );
  return {
    thread,
    backend: ready.backend,
    async close() {
      await worker.close();
      await thread.close();
    },
  };
}
