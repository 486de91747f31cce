import { z } from "zod";
import { anyNumberSchema, nullableFigureSchema } from "./common";

// The explanation-quality figures have one name each, from the training thread to the `Evaluation`
// columns, the API and the dashboard's labels:
//   probeImages      images in the fixed probe set (eval.probePerClass per class of the test split)
//   completenessGap  Integrated Gradients completeness gap, |sum(attr) - (f(x) - f(x'))| / |f(x) - f(x')|
//                    (lower is better); a mean over the probe set where it describes a run
//   stepsUsed        IG intervals the adaptive schedule settled on (a mean for a run)
//   deletionAuc      true-class probability as top-attributed pixels are removed (lower is better)
//   insertionAuc     the same as they are added to the baseline (higher is better)
//   maskShare        share of positive attribution inside the lesion mask; null without masks
//   durationMs       wall time of the quality step (column `explainMs`)

/** One probe image's scores as computed (a figure may be NaN until it is stored). */
export const probeScoreSchema = z.object({
  path: z.string(),
  label: z.number().int(),
  completenessGap: anyNumberSchema,
  stepsUsed: anyNumberSchema,
  deletionAuc: anyNumberSchema,
  insertionAuc: anyNumberSchema,
  /** null when the image has no lesion mask, an empty one (nothing to find, e.g. a normal image) or no positive attribution. */
  maskShare: anyNumberSchema.nullable(),
});
export type ProbeScore = z.infer<typeof probeScoreSchema>;

/** Explanation quality of one trained model on its probe set (packages/ml explanationQuality). */
export const explanationQualitySchema = z.object({
  /** The IG baseline the figures were computed against ("black", or the class mean the run recorded). */
  baseline: z.string(),
  probeImages: z.number().int(),
  /** Means over the probe images. */
  completenessGap: anyNumberSchema,
  stepsUsed: anyNumberSchema,
  deletionAuc: anyNumberSchema,
  insertionAuc: anyNumberSchema,
  /** Mean over probe images with non-empty masks; null if none. */
  maskShare: anyNumberSchema.nullable(),
  perImage: z.array(probeScoreSchema),
  /** Wall time of the whole step (scan, decode, IG, curves). */
  durationMs: anyNumberSchema,
});
export type ExplanationQuality = z.infer<typeof explanationQualitySchema>;

/**
 * One probe image's scores as stored in `Evaluation.explainPerImage` (non-finite figures as null)
 * and answered by GET /api/runs/:id. Rows written since the column exists have exactly this shape.
 */
export const storedProbeScoreSchema = z.object({
  path: z.string(),
  label: z.number().int(),
  completenessGap: nullableFigureSchema,
  stepsUsed: z.number(),
  deletionAuc: nullableFigureSchema,
  insertionAuc: nullableFigureSchema,
  maskShare: nullableFigureSchema,
});
export type StoredProbeScore = z.infer<typeof storedProbeScoreSchema>;
export const storedProbeScoresSchema = z.array(storedProbeScoreSchema);

/** A run's explanation quality in the runs list, the run detail and the comparison. */
export const explanationSummarySchema = z.object({
  probeImages: z.number().int(),
  completenessGap: nullableFigureSchema,
  stepsUsed: nullableFigureSchema,
  deletionAuc: nullableFigureSchema,
  insertionAuc: nullableFigureSchema,
  maskShare: nullableFigureSchema,
  durationMs: nullableFigureSchema,
});
export type ExplanationSummary = z.infer<typeof explanationSummarySchema>;

/** The run detail's explanation quality: the summary and each probe image's scores. */
export const runExplanationSchema = explanationSummarySchema.extend({
  perImage: storedProbeScoresSchema,
});
export type RunExplanation = z.infer<typeof runExplanationSchema>;
