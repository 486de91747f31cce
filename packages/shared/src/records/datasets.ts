import { z } from "zod";
import { runStatusSchema, timestampSchema } from "./common";

/** Per split (train/val/test), per class name: how many images. */
const classCountsSchema = z.record(z.string(), z.record(z.string(), z.number().int()));

/** Image sizes over a data set version, as describeDataset records them (`common` since it existed). */
export const datasetSizesSchema = z.object({
  minWidth: z.number().nullable(),
  maxWidth: z.number().nullable(),
  minHeight: z.number().nullable(),
  maxHeight: z.number().nullable(),
  /** The ten most frequent sizes. */
  common: z.array(z.object({ width: z.number(), height: z.number(), count: z.number().int() })).optional(),
});
export type DatasetSizes = z.infer<typeof datasetSizesSchema>;

/** GET /api/dataset-versions/:id: one registered content of a data set, with the runs it trained. */
export const datasetVersionSchema = z.object({
  id: z.string(),
  datasetId: z.string(),
  root: z.string(),
  name: z.string(),
  /** sha256 over every image's path, label and content hash. */
  fingerprint: z.string(),
  classNames: z.array(z.string()),
  classCounts: classCountsSchema,
  imageCount: z.number().int(),
  /** Images per file format (png, jpeg). */
  formats: z.record(z.string(), z.number().int()),
  sizes: datasetSizesSchema,
  unreadable: z.array(z.object({ path: z.string(), reason: z.string() })),
  maskCount: z.number().int(),
  registeredBy: z.string(),
  createdAt: timestampSchema,
  /** Runs that trained on this version. */
  runs: z.number().int(),
});
export type DatasetVersion = z.infer<typeof datasetVersionSchema>;

/** A data set in GET /api/datasets: one root, its latest class names and counts, how many versions. */
export const datasetRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  root: z.string(),
  classNames: z.array(z.string()),
  classCounts: classCountsSchema,
  versions: z.number().int(),
  latestVersionId: z.string().nullable(),
  updatedAt: timestampSchema,
});
export type DatasetRow = z.infer<typeof datasetRowSchema>;

/** GET /api/datasets/:id: the data set with every version it has had, newest first. */
export const datasetDetailSchema = datasetRowSchema.extend({
  versionList: z.array(datasetVersionSchema),
});
export type DatasetDetail = z.infer<typeof datasetDetailSchema>;

/** A run's prediction for one image of the grid. */
export const imagePredictionSchema = z.object({
  predicted: z.number().int(),
  predictedClass: z.string(),
  confidence: z.number(),
  /** Cross-entropy of the true class, clipped as training clips it. */
  loss: z.number(),
  correct: z.boolean(),
});
export type ImagePrediction = z.infer<typeof imagePredictionSchema>;

/** One tile of GET /api/dataset-versions/:id/images; `prediction` is the chosen run's, when one is chosen. */
export const datasetImageSchema = z.object({
  /** The image's path inside the version's root (react-admin wants an `id`). */
  id: z.string(),
  path: z.string(),
  split: z.string(),
  label: z.number().int(),
  className: z.string(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  format: z.string().nullable(),
  maskPath: z.string().nullable(),
  /** Why the image could not be read, when it could not. */
  error: z.string().nullable(),
  prediction: imagePredictionSchema.nullable(),
});
export type DatasetImage = z.infer<typeof datasetImageSchema>;

/** GET /api/dataset-versions/:id/image?path=: one image and every run's prediction for it. */
export const imageDetailSchema = z.object({
  image: datasetImageSchema.omit({ prediction: true }),
  /** Per linked run: its prediction (without the loss) and the probabilities it gave each class. */
  predictions: z.array(
    imagePredictionSchema.omit({ loss: true }).extend({
      runId: z.string(),
      runKey: z.string(),
      sweepId: z.string(),
      probabilities: z.array(z.number()),
      isProduction: z.boolean(),
    }),
  ),
});
export type ImageDetail = z.infer<typeof imageDetailSchema>;

/** GET /api/dataset-versions/:id/runs: the runs that trained on a version, best test F1 first. */
export const versionRunSchema = z.object({
  id: z.string(),
  key: z.string(),
  sweepId: z.string(),
  status: runStatusSchema,
  testF1: z.number().nullable(),
});
export type VersionRun = z.infer<typeof versionRunSchema>;
