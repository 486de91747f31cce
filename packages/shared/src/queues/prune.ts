import { z } from "zod";

/**
 * The pruner (scheduler side) tells the worker training a run to stop through this Redis key, as
 * cancellation does; the value says why. Not under the BullMQ prefix: it names a run, not a job.
 */
export function pruneKey(runId: string): string {
  return `xnn:prune:${runId}`;
}

/** Long enough for any attempt to see it; the pruner sets it again on every pass while the run is open. */
export const PRUNE_KEY_TTL_SEC = 24 * 3600;

/** What decided a pruning: stored on the run (`Run.pruned`) and shown with its badge. */
export const pruneNumbersSchema = z.object({
  rule: z.enum(["asha", "median"]),
  metric: z.string(),
  /** The epoch the run was judged at (an ASHA rung, or the median rule's epoch). */
  epoch: z.number().int(),
  /** The run's best value up to that epoch. */
  value: z.number(),
  /** asha: the worst value still in the top share; median: the median of the others. */
  threshold: z.number(),
  /** How many runs were compared at that epoch, this one included. */
  of: z.number().int(),
  /** asha: this run's place (1 = best) and how many go on. */
  rank: z.number().int().optional(),
  keep: z.number().int().optional(),
});
export type PruneNumbers = z.infer<typeof pruneNumbersSchema>;

export const pruneSignalSchema = z.object({
  reason: z.string(),
  numbers: pruneNumbersSchema.nullable(),
  /** Set on an FT run pruned because the FE run it would start from was. */
  feRunId: z.string().optional(),
});
export type PruneSignal = z.infer<typeof pruneSignalSchema>;
