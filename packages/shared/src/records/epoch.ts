import { z } from "zod";
import { anyNumberSchema } from "./common";

/**
 * One epoch as the training loop reports it (training thread -> worker -> EpochMetric rows; also
 * kept in the resume state). Values may be NaN (a diverged loss) until they are stored.
 */
export const epochRecordSchema = z.object({
  /** 1-based. */
  epoch: z.number().int().min(0),
  /** Learning rate at the end of the epoch (after warm-up, before this epoch's plateau step). */
  lr: anyNumberSchema,
  train: z.object({ loss: anyNumberSchema, accuracy: anyNumberSchema }),
  /** Weighted precision, recall and F1 on the validation split. */
  val: z.object({
    loss: anyNumberSchema,
    accuracy: anyNumberSchema,
    precision: anyNumberSchema,
    recall: anyNumberSchema,
    f1: anyNumberSchema,
  }),
  /** Wall time of the epoch (training + validation), ms. */
  durationMs: anyNumberSchema,
  /** Training images per second this epoch. */
  imagesPerSec: anyNumberSchema,
});
export type EpochRecord = z.infer<typeof epochRecordSchema>;

export const EPOCH_METRIC_SPLITS = ["train", "val"] as const;
export type EpochMetricSplit = (typeof EPOCH_METRIC_SPLITS)[number];

/** The `EpochMetric.name` of each figure of an epoch record; the dashboard charts them by these names. */
export const EPOCH_METRIC_NAMES = [
  "loss",
  "accuracy",
  "precision",
  "recall",
  "f1",
  "lr",
  "images_per_sec",
  "duration_ms",
] as const;
export type EpochMetricName = (typeof EPOCH_METRIC_NAMES)[number];

/** One stored figure of one epoch: an `EpochMetric` row, and an item of GET /api/runs/:id/metrics. */
export const epochMetricSchema = z.object({
  epoch: z.number().int().min(0),
  split: z.enum(EPOCH_METRIC_SPLITS),
  name: z.enum(EPOCH_METRIC_NAMES),
  value: z.number(),
});
export type EpochMetric = z.infer<typeof epochMetricSchema>;

/**
 * The rows an epoch record is stored as: the one mapping from record fields to metric names.
 * Non-finite values are left out (the row would hold NaN, which no chart can draw).
 */
export function epochMetrics(m: EpochRecord): EpochMetric[] {
  const rows: EpochMetric[] = [];
  const add = (split: EpochMetricSplit, name: EpochMetricName, value: number) => {
    if (Number.isFinite(value)) rows.push({ epoch: m.epoch, split, name, value });
  };
  add("train", "loss", m.train.loss);
  add("train", "accuracy", m.train.accuracy);
  add("train", "lr", m.lr);
  add("train", "images_per_sec", m.imagesPerSec);
  add("train", "duration_ms", m.durationMs);
  add("val", "loss", m.val.loss);
  add("val", "accuracy", m.val.accuracy);
  add("val", "precision", m.val.precision);
  add("val", "recall", m.val.recall);
  add("val", "f1", m.val.f1);
  return rows;
}
