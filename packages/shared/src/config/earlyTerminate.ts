import { z } from "zod";

/**
 * Epoch metrics a sweep's early termination can follow: the names of the epoch record (one name
 * from the EpochMetric row to the dashboard label), each with the direction that is better.
 */
export const PRUNABLE_METRICS = {
  "val.f1": "max",
  "val.accuracy": "max",
  "val.precision": "max",
  "val.recall": "max",
  "val.loss": "min",
  "train.loss": "min",
  "train.accuracy": "max",
} as const;
export type PrunableMetric = keyof typeof PRUNABLE_METRICS;
export const PRUNE_METHODS = ["asha", "median"] as const;

/**
 * Early termination across a sweep. `asha`: at rungs minEpochs * reductionFactor^k, a run keeps
 * training only while it is in the top 1/reductionFactor of the runs that reached that rung before
 * it. `median`: from minEpochs on, a run stops when its best value so far is worse than the median
 * of the best values the other runs had at the same epoch (needs minRuns of them).
 */
export const earlyTerminateSchema = z.strictObject({
  method: z.enum(PRUNE_METHODS),
  metric: z
    .string()
    .refine((m) => m in PRUNABLE_METRICS, {
      error: (issue) =>
        `unknown metric ${JSON.stringify(issue.input)}; expected one of ${Object.keys(PRUNABLE_METRICS).join(", ")}`,
    })
    .transform((m) => m as PrunableMetric),
  /** The first epoch at which a run may be stopped (ASHA's first rung). */
  minEpochs: z.number().int().min(1).default(1),
  /** ASHA's eta: the share of runs that go on at each rung is 1/reductionFactor. */
  reductionFactor: z.number().gt(1).max(100).default(3),
  /** Median rule: how many other runs must have reached an epoch before it is compared there. */
  minRuns: z.number().int().min(1).default(3),
  /**
   * The stages whose runs the rule judges; absent: every stage. An FE run on a frozen backbone
   * without pretrained weights scores at the class prior whatever its point, so its curve cannot
   * rank points: `[ft]` judges only the FT runs. Left out of the parsed rule when absent.
   */
  stages: z
    .array(z.enum(["fe", "ft"]))
    .min(1)
    .optional(),
});
export type EarlyTerminate = z.infer<typeof earlyTerminateSchema>;
