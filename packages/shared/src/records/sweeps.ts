import { z } from "zod";
import { sweepStatusSchema, timestampSchema } from "./common";
import { stageSchema } from "./runs";

/** A sweep in GET /api/sweeps, with its run counts. */
export const sweepRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  task: z.string(),
  status: sweepStatusSchema,
  createdAt: timestampSchema,
  createdBy: z.string(),
  runsTotal: z.number().int(),
  /** Runs that succeeded. */
  runsDone: z.number().int(),
  runsFailed: z.number().int(),
  runsRunning: z.number().int(),
  /** Runs the sweep's early-termination rule stopped. */
  runsPruned: z.number().int(),
  bestTestF1: z.number().nullable(),
});
export type SweepRow = z.infer<typeof sweepRowSchema>;

/**
 * How a sweep searches and stops runs early, as the API shows it: the base pipelines a bayes sweep
 * keeps for its proposals are server files and never sent.
 */
export const sweepSearchSchema = z.object({
  method: z.enum(["grid", "random", "bayes"]),
  seed: z.number().int(),
  runs: z.number().int().nullable(),
  /** Every axis as written: lists and distributions. */
  space: z.record(z.string(), z.unknown()),
  earlyTerminate: z
    .object({
      method: z.enum(["asha", "median"]),
      metric: z.string(),
      minEpochs: z.number().int(),
      reductionFactor: z.number(),
      minRuns: z.number().int(),
      stages: z.array(z.string()).optional(),
    })
    .nullable(),
});
export type SweepSearchSummary = z.infer<typeof sweepSearchSchema>;

/** GET /api/sweeps/:id. */
export const sweepDetailSchema = sweepRowSchema.extend({
  sourceYaml: z.string(),
  /** null for sweeps from before search methods. */
  search: sweepSearchSchema.nullable(),
  error: z.string().nullable(),
  /** The task's current production model, whichever sweep it came from. */
  production: z.object({ runId: z.string(), version: z.number().int() }).nullable(),
});
export type SweepDetail = z.infer<typeof sweepDetailSchema>;

/** A problem in submitted sweep text (HTTP 400 `issues`): where it is and what is wrong. */
export const sweepIssueSchema = z.object({
  line: z.number().int(),
  col: z.number().int(),
  /** Key path inside the text, like `axes.model[2]`. */
  path: z.string(),
  message: z.string(),
});
export type SweepIssue = z.infer<typeof sweepIssueSchema>;

/** A run a sweep expands to, before anything is written. */
export const expandedRunSchema = z.object({
  key: z.string(),
  model: z.string(),
  classWeighting: z.string(),
  stage: stageSchema,
  dependsOn: z.string().nullable(),
  configHash: z.string(),
});
export type ExpandedRun = z.infer<typeof expandedRunSchema>;

/** POST /api/sweeps/validate. */
export const sweepValidationSchema = z.object({
  sweepId: z.string(),
  name: z.string(),
  task: z.string(),
  runs: z.array(expandedRunSchema),
});
export type SweepValidation = z.infer<typeof sweepValidationSchema>;

/** POST /api/sweeps (201 created, 200 when the same sweep was submitted before). */
export const submitResultSchema = z.object({
  id: z.string(),
  created: z.boolean(),
  runs: z.number().int(),
  jobs: z.number().int(),
  status: sweepStatusSchema,
});
export type SubmitResult = z.infer<typeof submitResultSchema>;

/** POST /api/sweeps/:id/cancel. */
export const cancelResultSchema = z.object({
  sweepId: z.string(),
  /** Jobs taken off the queue before any worker saw them. */
  removedJobs: z.number().int(),
  /** Runs marked cancelled now. */
  cancelledRuns: z.number().int(),
  /** Runs a worker holds: they were flagged through Redis and stop at their next epoch end. */
  signalledRuns: z.array(z.string()),
});
export type CancelResult = z.infer<typeof cancelResultSchema>;
