import { z } from "zod";

// GET /api/sweeps/:id/analysis: what each swept config value did to the test figures.
//   axis        a config path (dot-separated, "train.learningRate") whose value differs between the
//               sweep's succeeded runs; constant paths are not axes
//   level       one group of an axis's runs: one value, or, for a numeric axis with more than
//               MAX_AXIS_LEVELS distinct values, one of AXIS_BINS rank bins (equal run counts)
//   importance  random/bayes sweeps: how much of the variance of test weighted F1 the axis's levels
//               explain (eta squared, and epsilon squared, its small-sample correction)

/** A numeric axis with more distinct values than this is grouped into AXIS_BINS bins. */
export const MAX_AXIS_LEVELS = 6;
/** Bins of a binned numeric axis: quartiles of its runs, by rank. */
export const AXIS_BINS = 4;

/** A config leaf: arrays arrive as their JSON text. */
export const configScalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type ConfigScalar = z.infer<typeof configScalarSchema>;

export const axisLevelSchema = z.object({
  /** The config value; for a bin, its label "min–max" (or its one value), three significant digits. */
  value: configScalarSchema,
  /** The range of values in a bin; null for a level that is one value. */
  bin: z.object({ min: z.number(), max: z.number() }).nullable(),
  runs: z.number().int(),
  /** Mean test weighted F1 of the level's runs, across every value of the other axes. */
  meanTestF1: z.number(),
  minTestF1: z.number(),
  maxTestF1: z.number(),
  /** Mean test recall per class; null where none of the level's runs recorded it. */
  meanRecall: z.record(z.string(), z.number().nullable()),
});
export type AxisLevel = z.infer<typeof axisLevelSchema>;

export const axisEffectSchema = z.object({
  axis: z.string(),
  /** numeric: every value is a number (levels sort by value; a parallel-coordinates scale is linear). */
  kind: z.enum(["numeric", "categorical"]),
  binned: z.boolean(),
  levels: z.array(axisLevelSchema),
  /** Best minus worst level mean of test weighted F1: the axis's marginal effect. */
  f1Range: z.number(),
  /** The same range per class, of the mean recall (null where a class has no recall recorded). */
  recallRange: z.record(z.string(), z.number().nullable()),
});
export type AxisEffect = z.infer<typeof axisEffectSchema>;

/**
 * One axis's parameter importance, from its levels (the groups of the axis effect): with n runs,
 * k levels, test F1 y and grand mean ȳ,
 *   SS_total = Σ (y − ȳ)²,  SS_between = Σ_levels n_l (ȳ_l − ȳ)²,  SS_within = SS_total − SS_between,
 *   eta2 = SS_between / SS_total,
 *   epsilon2 = max(0, (SS_between − (k − 1) · SS_within / (n − k)) / SS_total)   (null when n = k).
 * eta2 grows with the number of levels even for a parameter that does nothing; epsilon2 removes
 * that expected share, so it is the one to rank by. Both are 0 when every run has the same F1.
 */
export const parameterImportanceSchema = z.object({
  axis: z.string(),
  levels: z.number().int(),
  eta2: z.number(),
  epsilon2: z.number().nullable(),
});
export type ParameterImportance = z.infer<typeof parameterImportanceSchema>;

/** One succeeded run as a line of the parallel-coordinates view. */
export const parallelRunSchema = z.object({
  runId: z.string(),
  key: z.string(),
  testF1: z.number(),
  /** Test recall per class (null: not recorded). */
  recall: z.record(z.string(), z.number().nullable()),
  /** The run's value on each axis. */
  values: z.record(z.string(), configScalarSchema),
});
export type ParallelRun = z.infer<typeof parallelRunSchema>;

/** GET /api/sweeps/:id/analysis. */
export const sweepAnalysisSchema = z.object({
  sweepId: z.string(),
  method: z.enum(["grid", "random", "bayes"]),
  /** Succeeded runs with a test F1: the runs analysed. */
  runs: z.number().int(),
  classNames: z.array(z.string()),
  /** Largest effect on test F1 first. */
  axes: z.array(axisEffectSchema),
  parallel: z.array(parallelRunSchema),
  /** random/bayes sweeps, largest epsilon2 first; null for a grid (its axes are crossed, see `axes`). */
  importance: z.array(parameterImportanceSchema).nullable(),
});
export type SweepAnalysis = z.infer<typeof sweepAnalysisSchema>;
