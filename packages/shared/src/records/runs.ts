import { z } from "zod";
import { STAGES } from "../models";
import { pruneSignalSchema } from "../queues/prune";
import { anyNumberSchema, runStatusSchema, timestampSchema } from "./common";
import { epochRecordSchema } from "./epoch";
import {
  confusionSchema,
  evaluationRecordSchema,
  evaluationSummarySchema,
  prCurveSchema,
  predictionRecordSchema,
} from "./evaluation";
import { explanationQualitySchema, explanationSummarySchema, runExplanationSchema } from "./explanation";

export const stageSchema = z.enum(STAGES);

/**
 * What a finished training attempt hands the store (training thread -> worker -> saveFinal): best
 * epoch, the test evaluation of the best checkpoint, every test prediction, the checkpoint and the
 * explanation quality.
 */
export const runResultRecordSchema = z.object({
  bestEpoch: z.number().int(),
  bestValF1: anyNumberSchema,
  epochsRun: z.number().int(),
  test: evaluationRecordSchema,
  predictions: z.array(predictionRecordSchema),
  checkpoint: z.object({
    uri: z.string(),
    sha256: z.string(),
    sizeBytes: z.number().int(),
    epoch: z.number().int(),
  }),
  history: z.array(epochRecordSchema),
  /** Null when not computed (eval.probePerClass 0, or the step failed). */
  explanation: explanationQualitySchema.nullable().optional(),
});
export type RunResultRecord = z.infer<typeof runResultRecordSchema>;

/** What every view of a run names it by, and its headline figures (test and best validation weighted F1). */
const runSummaryShape = {
  key: z.string(),
  model: z.string(),
  classWeighting: z.string(),
  stage: stageSchema,
  status: runStatusSchema,
  testF1: z.number().nullable(),
  bestValF1: z.number().nullable(),
};

/** A run in GET /api/runs (and the base of its detail). */
export const runRowSchema = z.object({
  ...runSummaryShape,
  id: z.string(),
  sweepId: z.string(),
  attempt: z.number().int(),
  epochsDone: z.number().int(),
  /** The config's epoch budget; null when it has none. */
  epochs: z.number().int().nullable(),
  bestEpoch: z.number().int().nullable(),
  bestValLoss: z.number().nullable(),
  workerId: z.string().nullable(),
  queuedAt: timestampSchema,
  startedAt: timestampSchema.nullable(),
  finishedAt: timestampSchema.nullable(),
  error: z.string().nullable(),
  /** random/bayes sweeps: the point of the space and the values drawn or proposed for it. */
  trial: z.number().int().nullable(),
  params: z.record(z.string(), z.unknown()).nullable(),
  /** Status `pruned`: why the sweep's early-termination rule stopped it. */
  pruned: pruneSignalSchema.nullable(),
  /** Whether the run backs its task's production model. */
  isProduction: z.boolean(),
  /** Explanation quality on the test probe set; null until (or unless) the worker recorded it. */
  explanation: explanationSummarySchema.nullable(),
});
export type RunRow = z.infer<typeof runRowSchema>;

/** GET /api/runs/:id. */
export const runDetailSchema = runRowSchema.extend({
  /** The list row's summary plus each probe image's scores. */
  explanation: runExplanationSchema.nullable(),
  config: z.unknown(),
  feRunId: z.string().nullable(),
  evaluations: z.object({
    val: evaluationSummarySchema.optional(),
    test: evaluationSummarySchema.optional(),
  }),
  confusion: z.record(z.string(), confusionSchema),
  /** The best checkpoint. */
  checkpoint: z
    .object({
      uri: z.string(),
      sha256: z.string(),
      sizeBytes: z.number().int(),
      epoch: z.number().int(),
      valF1: z.number().nullable(),
    })
    .nullable(),
  worker: z.object({ id: z.string(), host: z.string(), backend: z.string() }).nullable(),
});
export type RunDetail = z.infer<typeof runDetailSchema>;

/** Per-epoch series: epochs[split][metric name][epoch], null where an epoch has no value. */
export const epochSeriesSchema = z.record(z.string(), z.record(z.string(), z.array(z.number().nullable())));
export type EpochSeries = z.infer<typeof epochSeriesSchema>;

/** A config key whose value differs between compared runs. */
export const configDiffEntrySchema = z.object({
  /** Dotted path, like `train.learningRate`. */
  key: z.string(),
  /** Every compared run, with null where its config lacks the key. */
  values: z.record(z.string(), z.unknown()),
});
export type ConfigDiffEntry = z.infer<typeof configDiffEntrySchema>;

/** One run of GET /api/compare. */
export const comparedRunSchema = z.object({
  ...runSummaryShape,
  id: z.string(),
  /** Status `pruned`: why the sweep's early-termination rule stopped it. */
  pruned: pruneSignalSchema.nullable(),
  metrics: z.object({ test: evaluationSummarySchema.nullable() }),
  epochs: epochSeriesSchema,
  /** Test curves, thinned for drawing (no thresholds). */
  curves: z.record(z.string(), prCurveSchema),
  /** The test confusion matrix. */
  confusion: confusionSchema.nullable(),
  /** Explanation quality on the test probe set; null when not recorded. */
  explanation: explanationSummarySchema.nullable(),
  /** Whether the run backs its task's production model. */
  isProduction: z.boolean(),
});
export type ComparedRun = z.infer<typeof comparedRunSchema>;

/** GET /api/compare?runs=... */
export const comparisonSchema = z.object({
  runs: z.array(comparedRunSchema),
  configDiff: z.array(configDiffEntrySchema),
});
export type Comparison = z.infer<typeof comparisonSchema>;

/** A row of a sweep's leaderboard (`pnpm sweep --watch`, the demo): best test weighted F1 first. */
export const leaderboardRowSchema = z.object({
  ...runSummaryShape,
  runId: z.string(),
  /** NaN where the stored evaluation lacks a class's AP. */
  apPerClass: z.record(z.string(), anyNumberSchema),
  microAp: z.number().nullable(),
  error: z.string().nullable(),
});
export type LeaderboardRow = z.infer<typeof leaderboardRowSchema>;

export { type PruneSignal as PruneInfo, pruneSignalSchema } from "../queues/prune";
