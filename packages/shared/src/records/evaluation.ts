import { z } from "zod";
import { anyNumberSchema } from "./common";

/** One class's figures (one-vs-rest), as evaluated and as stored in `Evaluation.perClass`. */
export const classMetricsSchema = z.object({
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  support: z.number().int(),
  /** One-vs-rest average precision; 0 for a class without positives (what sklearn 1.2 returns). */
  ap: z.number(),
  tp: z.number().int(),
  fp: z.number().int(),
  fn: z.number().int(),
});
export type ClassMetrics = z.infer<typeof classMetricsSchema>;

/** A precision-recall curve as computed: sklearn's order, recall non-increasing, last point (P=1, R=0). */
export const prCurveRecordSchema = z.object({
  precision: z.array(z.number()),
  recall: z.array(z.number()),
  /** Increasing; one fewer than precision/recall. */
  thresholds: z.array(z.number()),
});
export type PrCurveRecord = z.infer<typeof prCurveRecordSchema>;

/** Everything evaluating one split produces (training thread -> worker -> Evaluation, PrCurvePoint, ConfusionMatrix). */
export const evaluationRecordSchema = z.object({
  n: z.number().int(),
  classNames: z.array(z.string()),
  accuracy: anyNumberSchema,
  /** Support-weighted averages (sklearn average="weighted", zero_division=0). */
  precision: anyNumberSchema,
  recall: anyNumberSchema,
  f1: anyNumberSchema,
  perClass: z.record(z.string(), classMetricsSchema),
  /** Average precision of the ravelled one-hot labels vs probabilities (sklearn average="micro"). */
  microAp: anyNumberSchema,
  /** confusion[true][predicted], in classNames order. */
  confusion: z.array(z.array(z.number().int())),
  /** One-vs-rest precision-recall curves keyed by class name, plus "micro". */
  curves: z.record(z.string(), prCurveRecordSchema),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;

/** One test image's prediction, as the worker stores it (`Prediction` rows). */
export const predictionRecordSchema = z.object({
  /** Relative to the data set root. */
  path: z.string(),
  label: z.number().int(),
  predicted: z.number().int(),
  probs: z.array(z.number()),
});
export type PredictionRecord = z.infer<typeof predictionRecordSchema>;

/** A stored evaluation's figures, as the API answers them (run detail, comparison). */
export const evaluationSummarySchema = z.object({
  accuracy: z.number(),
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  perClass: z.record(z.string(), classMetricsSchema),
  microAp: z.number(),
  loss: z.number().nullable(),
});
export type EvaluationSummary = z.infer<typeof evaluationSummarySchema>;

export const confusionSchema = z.object({
  classNames: z.array(z.string()),
  /** counts[true][predicted] */
  counts: z.array(z.array(z.number().int())),
});
export type Confusion = z.infer<typeof confusionSchema>;

export const curvePointSchema = z.object({
  recall: z.number(),
  precision: z.number(),
  /** Every point of GET /api/runs/:id/curves has it; comparisons leave it out (nothing draws it). */
  threshold: z.number().nullable().optional(),
});
export type CurvePoint = z.infer<typeof curvePointSchema>;

export const prCurveSchema = z.object({
  /** The evaluation's AP for this curve; null when it has none. */
  ap: z.number().nullable(),
  points: z.array(curvePointSchema),
});
export type PrCurve = z.infer<typeof prCurveSchema>;

/** GET /api/runs/:id/curves: one split's curves, keyed by class name or "micro". */
export const runCurvesSchema = z.object({
  split: z.string(),
  curves: z.record(z.string(), prCurveSchema),
});
export type RunCurves = z.infer<typeof runCurvesSchema>;
