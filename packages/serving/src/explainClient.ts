import {
  EXPLAIN_FAILURE,
  EXPLAIN_JOB_NAME,
  EXPLAIN_JOB_VERSION,
  EXPLAIN_QUEUE,
  type ExplainJobPayload,
  type Explanation,
  explainCacheKey,
  explainJobId,
  explainJobOptions,
  explainJobResultSchema,
  explanationSchema,
} from "@xnn/shared";
import { Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { explainKeyOf } from "./explainKeyOf";

/** No worker serves explanations: the request cannot be answered (503). */
export class ExplainUnavailableError extends Error {
  override name = "ExplainUnavailableError";
}
/** The explanation did not finish in time (504); it carries on and its answer is cached. */
export class ExplainTimeoutError extends Error {
  override name = "ExplainTimeoutError";
}
/** The worker refused the request itself: `status` 400 (bad image) or 409 (bad checkpoint). */
export class ExplainRejectedError extends Error {
  override name = "ExplainRejectedError";
  constructor(
    readonly status: 400 | 409,
    message: string,
  ) {
    super(message);
  }
}

export type ExplainRequest = Omit<ExplainJobPayload, "v">;

/** Where one explanation stands, for a requester that polls (the dashboard). */
export type ExplainStatus =
  | { jobId: string; state: "queued"; ahead: number }
  | { jobId: string; state: "running" }
  | { jobId: string; state: "completed"; cached: boolean; explanation: Explanation }
  | { jobId: string; state: "failed"; status: number; error: string }
  | { jobId: string; state: "unknown" };

export interface ExplainClientOptions {
  /** A producer/server connection, shared; the client opens its own blocking one for events. */
  redis: Redis;
  prefix: string;
  /** How long `explain` waits for a worker's answer. */
  timeoutMs: number;
  /** How many live workers serve explanations (their heartbeat rows); 0 answers 503 at once. */
  servingWorkers: () => Promise<number>;
}

function rejectionOf(reason: string): Error {
  if (reason.startsWith(EXPLAIN_FAILURE.badImage))
    return new ExplainRejectedError(400, reason.slice(EXPLAIN_FAILURE.badImage.length));
  if (reason.startsWith(EXPLAIN_FAILURE.badCheckpoint))
    return new ExplainRejectedError(409, reason.slice(EXPLAIN_FAILURE.badCheckpoint.length));
  return new Error(`the explanation failed on the worker: ${reason || "no reason recorded"}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const JOB_ID_PATTERN = /^explain\.([0-9a-f]{40})$/;

/**
 * The requesting side of the explain queue (the API, the demo): answers from the cache when the
 * same image was explained by the same model version with the same settings, else enqueues one
 * job (identical requests in flight share it) and waits for a worker's answer. Nothing here
 * computes: the caller's event loop only waits.
 */
export class ExplainClient {
  private readonly queue: Queue;
  private events: QueueEvents | null = null;

  constructor(private readonly opts: ExplainClientOptions) {
    this.queue = new Queue(EXPLAIN_QUEUE, { connection: opts.redis, prefix: opts.prefix });
    this.queue.on("error", () => {});
  }

  /** Listening before any job is added, so no completion can be missed. */
  private async listening(): Promise<QueueEvents> {
    if (!this.events) {
      const { redis } = this.opts;
      // A blocking reader needs its own connection, one that waits for Redis instead of failing fast.
      const connection = {
        ...(redis.options as Record<string, unknown>),
        maxRetriesPerRequest: null,
        enableOfflineQueue: true,
        lazyConnect: false,
      };
      this.events = new QueueEvents(EXPLAIN_QUEUE, { connection, prefix: this.opts.prefix });
      this.events.on("error", () => {});
    }
    await this.events.waitUntilReady();
    return this.events;
  }

  private async cached(key: string): Promise<Explanation | null> {
    const text = await this.opts.redis.get(explainCacheKey(this.opts.prefix, key));
    if (text === null) return null;
    const parsed = explanationSchema.safeParse(parseJson(text));
    // An entry written by other code is ignored (and recomputed), never served half-understood.
    return parsed.success ? parsed.data : null;
  }

  /** Adds the job unless an identical one is queued or running (then that one is returned); a failed one is replaced. */
  private async enqueue(request: ExplainRequest, jobId: string) {
    if ((await this.queue.getJobState(jobId)) === "failed") await this.queue.remove(jobId);
    const payload: ExplainJobPayload = { v: EXPLAIN_JOB_VERSION, ...request };
    return this.queue.add(EXPLAIN_JOB_NAME, payload, { ...explainJobOptions, jobId });
  }

  private async requireWorkers(): Promise<void> {
    if ((await this.opts.servingWorkers()) === 0)
      throw new ExplainUnavailableError(
        "no worker serves explanations right now: start one with `pnpm worker` (explanations are on unless XNN_EXPLAIN=0)",
      );
  }

  /** Answers with the explanation, from the cache or from a worker, within the timeout. */
  async explain(request: ExplainRequest): Promise<{ explanation: Explanation; cached: boolean }> {
    const key = explainKeyOf(request.modelVersion.id, request.imageSha256, request.settings);
    const hit = await this.cached(key);
    if (hit) return { explanation: hit, cached: true };
    await this.requireWorkers();
    const events = await this.listening();
    const jobId = explainJobId(key);
    const job = await this.enqueue(request, jobId);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ExplainTimeoutError("")), this.opts.timeoutMs);
    });
    try {
      const value = await Promise.race([
        // BullMQ's own limit only removes its listeners after ours has answered.
        job.waitUntilFinished(events, this.opts.timeoutMs + 5_000),
        timedOut,
      ]);
      return { explanation: explainJobResultSchema.parse(value).explanation, cached: false };
    } catch (err) {
      if (err instanceof ExplainTimeoutError) throw await this.timeoutError(jobId);
      // Completed (and so removed) before its listeners were attached: the answer is in the cache.
      const late = await this.cached(key);
      if (late) return { explanation: late, cached: false };
      throw rejectionOf((err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  private async timeoutError(jobId: string): Promise<ExplainTimeoutError> {
    const s = await this.status(jobId).catch(() => null);
    const where =
      s?.state === "queued"
        ? `it is still queued with ${s.ahead} ahead of it`
        : s?.state === "running"
          ? "it is still running"
          : "it has not finished";
    return new ExplainTimeoutError(
      `the explanation did not finish within ${this.opts.timeoutMs / 1000} s (${where}); it carries on, and the same request is answered from the cache once it is done`,
    );
  }

  /** Starts an explanation without waiting for it: the answer says where it stands (poll `status`). */
  async submit(request: ExplainRequest): Promise<ExplainStatus> {
    const key = explainKeyOf(request.modelVersion.id, request.imageSha256, request.settings);
    const jobId = explainJobId(key);
    const hit = await this.cached(key);
    if (hit) return { jobId, state: "completed", cached: true, explanation: hit };
    await this.requireWorkers();
    await this.enqueue(request, jobId);
    return this.status(jobId);
  }

  /** Where the explanation with this job id stands. */
  async status(jobId: string): Promise<ExplainStatus> {
    const m = JOB_ID_PATTERN.exec(jobId);
    if (!m) return { jobId, state: "unknown" };
    const hit = await this.cached(m[1] as string);
    if (hit) return { jobId, state: "completed", cached: true, explanation: hit };
    const state = await this.queue.getJobState(jobId);
    if (state === "active") return { jobId, state: "running" };
    if (state === "waiting" || state === "prioritized" || state === "delayed") {
      const ids = await this.queue.getRanges(["wait", "prioritized"], 0, -1, true);
      const at = ids.indexOf(jobId);
      return { jobId, state: "queued", ahead: Math.max(at, 0) };
    }
    if (state === "failed" || state === "completed") {
      const [reason, value] = await this.opts.redis.hmget(
        this.queue.toKey(jobId),
        "failedReason",
        "returnvalue",
      );
      if (state === "completed" && value) {
        const parsed = explainJobResultSchema.safeParse(parseJson(value));
        if (parsed.success)
          return { jobId, state: "completed", cached: false, explanation: parsed.data.explanation };
      }
      const err = rejectionOf(reason ?? "");
      return {
        jobId,
        state: "failed",
        status: err instanceof ExplainRejectedError ? err.status : 500,
        error: err.message,
      };
    }
    return { jobId, state: "unknown" };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.events?.close()]);
  }
}
