import { z } from "zod";

/** The model version that answered, in predict answers. */
export const servedVersionSchema = z.object({
  id: z.string(),
  task: z.string(),
  version: z.number().int(),
  alias: z.string().nullable(),
  runId: z.string(),
});

/** POST /api/predict: the prediction and its Integrated Gradients explanation. */
export const predictResponseSchema = z.object({
  predictedClass: z.string(),
  probabilities: z.record(z.string(), z.number()),
  modelVersion: servedVersionSchema,
  completenessGap: z.number(),
  stepsUsed: z.number(),
  /** The IG reference: "black", or the class mean recorded in the checkpoint. */
  baseline: z.string(),
  /** PNG, base64. */
  overlayPng: z.string(),
});
export type PredictResponse = z.infer<typeof predictResponseSchema>;

export const predictSampleSchema = z.object({
  /** `predict/`-relative path with "/" separators: `bacteria/x.png`, or `x.png` at the top level. */
  name: z.string(),
  /** The class folder it sits in (the true label in a split data set), null at the top level. */
  class: z.string().nullable(),
  sizeBytes: z.number().int(),
});
export type PredictSample = z.infer<typeof predictSampleSchema>;

/** GET /api/predict/samples. */
export const predictSampleListSchema = z.object({
  task: z.string(),
  modelVersion: servedVersionSchema.omit({ task: true }),
  /** The folder as the run's config names it (`<data.dir>/predict`), not the server's absolute path. */
  folder: z.string(),
  samples: z.array(predictSampleSchema),
  truncated: z.boolean(),
});
export type PredictSampleList = z.infer<typeof predictSampleListSchema>;
