import { randomUUID } from "node:crypto";
import { formatPath, type Logger, runJobPayloadSchema } from "@xnn/shared";
import { type Job, UnrecoverableError, WaitingError } from "bullmq";
import { LeaseLostError } from "./services/resultsStore";
import { type RunContext, RunNotStartedError, runTrainingJob } from "./services/runTrainingJob";
import { withRetry } from "./services/withRetry";

/** Queued data may have been written by older code: it is parsed, never trusted. */
export function describePayloadProblem(data: unknown): string | null {
  const parsed = runJobPayloadSchema.safeParse(data);
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

/** Thin: validate, then hand over to the run service; record the failure when no retry follows. */
export function createProcessor(ctx: RunContext, logger: Logger) {
  return async (job: Job, token?: string) => {
    const problem = describePayloadProblem(job.data);
    const raw = (job.data ?? {}) as { runId?: unknown; sweepId?: unknown };
    const runId = typeof raw.runId === "string" ? raw.runId : null;
    const sweepId = typeof raw.sweepId === "string" ? raw.sweepId : null;
    if (problem) {
      const message = `invalid job payload: ${problem}`;
      logger.error({ jobId: job.id, runId }, message);
      if (runId && sweepId) {
        await withRetry("mark failed", () => ctx.store.markEnded(runId, sweepId, "failed", message), {
          maxAttempts: 5,
        }).catch(() => {});
      }
      throw new UnrecoverableError(message);
    }
    const payload = runJobPayloadSchema.parse(job.data);
    const lease = token ?? `${job.id}:${randomUUID()}`;
    try {
      return await runTrainingJob(ctx, job, payload, token, lease);
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      const e = err as Error;
      if (err instanceof LeaseLostError) {
        // Another attempt owns the run: it writes the outcome, this one writes nothing.
        logger.warn({ jobId: job.id, runId: payload.runId, err: e.message }, "attempt abandoned");
        throw err;
      }
      if (err instanceof RunNotStartedError) throw err;
      const last = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      logger.error(
        { jobId: job.id, runId: payload.runId, err: e.message, willRetry: !last },
        "run attempt failed",
      );
      if (last) {
        await withRetry("mark failed", () =>
          ctx.store.markEnded(payload.runId, payload.sweepId, "failed", e.message, lease),
        );
      } else {
        // Back to queued until the retry claims it: the retry is not counted as a worker death.
        await withRetry("release run", () =>
          ctx.store.releaseRun(
            payload.runId,
            lease,
            `attempt ${job.attemptsMade + 1} failed, retrying: ${e.message.slice(0, 2000)}`,
          ),
        ).catch(() => {});
      }
      throw err;
    }
  };
}
