import { z } from "zod";
import { pipelineSchema } from "../config/pipeline";

/** The queue every training run goes through. Scheduler and worker import this one definition. */
export const RUNS_QUEUE = "xnn-runs";
export const RUN_JOB_NAME = "train";

/** Bump when the payload shape changes; workers refuse payloads they do not understand. */
export const RUN_JOB_VERSION = 1;

export const runJobPayloadSchema = z.strictObject({
  v: z.literal(RUN_JOB_VERSION),
  runId: z.string().min(1),
  sweepId: z.string().min(1),
  runKey: z.string().min(1),
  configHash: z.string().regex(/^[0-9a-f]{64}$/),
  config: pipelineSchema,
  /** Set for FT runs: the FE run whose best checkpoint they start from (read from the child job's result). */
  feRunId: z.string().min(1).nullable(),
});
export type RunJobPayload = z.infer<typeof runJobPayloadSchema>;

export const checkpointRefSchema = z.strictObject({
  uri: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  epoch: z.number().int().min(0),
  valF1: z.number(),
});
export type CheckpointRef = z.infer<typeof checkpointRefSchema>;

export const runJobResultSchema = z.strictObject({
  runId: z.string(),
  bestCheckpoint: checkpointRefSchema,
  testF1: z.number(),
  epochs: z.number().int().min(0),
});
export type RunJobResult = z.infer<typeof runJobResultSchema>;

/** Stable job id: the same run of the same sweep always maps to the same BullMQ job. */
export function runJobId(sweepId: string, configHash: string): string {
  return `${sweepId}.${configHash.slice(0, 16)}`;
}

export const RUN_JOB_ATTEMPTS = 3;
export const runJobOptions = {
  attempts: RUN_JOB_ATTEMPTS,
  backoff: { type: "exponential" as const, delay: 5_000 },
  // Completed jobs keep their result: an FT parent reads its FE child's checkpoint from it.
  removeOnComplete: false,
  removeOnFail: false,
};

/**
 * Redis key the API sets to ask the worker running a run to stop at its next epoch boundary (and
 * that a worker checks before it starts one). Not under the BullMQ prefix: it names a run, not a job.
 */
export function cancelKey(runId: string): string {
  return `xnn:cancel:${runId}`;
}

/** Progress a worker reports per epoch, for live displays. */
export const runProgressSchema = z.object({
  epoch: z.number().int(),
  epochs: z.number().int(),
  valF1: z.number().nullable(),
  valLoss: z.number().nullable(),
});
export type RunProgress = z.infer<typeof runProgressSchema>;
