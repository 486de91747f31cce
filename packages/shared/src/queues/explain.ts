import { z } from "zod";
import { contentHash } from "../hash";

/**
 * The queue explanations go through: the API enqueues one job per prediction to explain, a worker
 * that serves explanations computes it off its main thread and answers with the job's result.
 * The API, the workers and the demo import this one definition.
 */
export const EXPLAIN_QUEUE = "xnn-explain";
export const EXPLAIN_JOB_NAME = "explain";

/** Bump when the payload shape changes; workers refuse payloads they do not understand. */
export const EXPLAIN_JOB_VERSION = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** Integrated Gradients settings a request may carry; resolved, they are part of the cache key. */
export const explainSettingsSchema = z.strictObject({
  /** Initial uniform intervals of the path integral (default: the engine's, 50). */
  steps: z.number().int().min(1).optional(),
  /** Quadrature rule of the path integral (default: the engine's, "trapezoid"). */
  rule: z.enum(["trapezoid", "simpson"]).optional(),
  /** Interval budget of the adaptive integration (default: the engine's, 1600). */
  maxSteps: z.number().int().min(1).optional(),
  /** Completeness gap at which refinement stops (default: the engine's, 0.05). */
  tolerance: z.number().positive().optional(),
});
export type ExplainSettings = z.infer<typeof explainSettingsSchema>;

export const explainedVersionSchema = z.strictObject({
  id: z.string().min(1),
  task: z.string().min(1),
  version: z.number().int().min(1),
  alias: z.string().nullable(),
  runId: z.string().min(1),
});
export type ExplainedVersion = z.infer<typeof explainedVersionSchema>;

export const explainJobPayloadSchema = z.strictObject({
  v: z.literal(EXPLAIN_JOB_VERSION),
  modelVersion: explainedVersionSchema,
  /** The version's best checkpoint in the artifact store, verified against this sha256 on load. */
  checkpoint: z.strictObject({ uri: z.string().min(1), sha256: sha256Hex }),
  /** From the run's config; null: the model's input size. */
  imageSize: z.number().int().min(1).nullable(),
  /** In the model's output order; null: `class_<i>`. */
  classNames: z.array(z.string()).nullable(),
  /** sha256 of the image bytes, as uploaded. */
  imageSha256: sha256Hex,
  /** The uploaded image, base64 (the API has checked its format and size). */
  image: z.string().min(1),
  settings: explainSettingsSchema,
});
export type ExplainJobPayload = z.infer<typeof explainJobPayloadSchema>;

/** The explanation itself: what POST /api/predict answers. */
export const explanationSchema = z.strictObject({
  predictedClass: z.string(),
  probabilities: z.record(z.string(), z.number()),
  modelVersion: explainedVersionSchema,
  completenessGap: z.number(),
  stepsUsed: z.number().int(),
  /** The IG reference: "black", or the class mean recorded in the checkpoint. */
  baseline: z.string(),
  /** PNG, base64. */
  overlayPng: z.string(),
});
export type Explanation = z.infer<typeof explanationSchema>;

export const explainJobResultSchema = z.strictObject({
  explanation: explanationSchema,
  /** Who computed it and how: for logs and tests, not shown to users. */
  served: z.strictObject({
    workerId: z.string(),
    /** The model was loaded for this job (not already warm in the worker). */
    coldLoad: z.boolean(),
    computeMs: z.number(),
  }),
});
export type ExplainJobResult = z.infer<typeof explainJobResultSchema>;

/**
 * The integration scheme an explanation was made with: the request's settings with the engine's
 * defaults filled in, and the engine's scheme revision (what no setting names: the refinement
 * policy, the points per round). `resolveIgScheme` in @xnn/ml makes one.
 */
export interface ExplainScheme {
  revision: number;
  steps: number;
  rule: "trapezoid" | "simpson";
  maxSteps: number;
  tolerance: number;
  output: "probability" | "logit";
}

/**
 * One key per (model version, image bytes, resolved scheme): the job id, so identical requests in
 * flight share one job, and the cache entry, so a repeat is answered without one. Keyed on the
 * resolved scheme, not the request's settings: a request that leaves a setting out and one that
 * gives its default share an entry, and an explanation made under other defaults (another engine
 * release) is not served as this one's.
 */
export function explainKey(modelVersionId: string, imageSha256: string, scheme: ExplainScheme): string {
  return contentHash({ modelVersionId, imageSha256, scheme }).slice(0, 40);
}

export function explainJobId(key: string): string {
  return `explain.${key}`;
}

/** Where finished explanations are kept; under the BullMQ prefix so deployments sharing a Redis do not mix. */
export function explainCacheKey(prefix: string, key: string): string {
  return `xnn:explain-cache:${prefix}:${key}`;
}

/** A cached explanation lives this long (a production model is explained on the same images repeatedly). */
export const EXPLAIN_CACHE_TTL_S = 24 * 60 * 60;

export const explainJobOptions = {
  // Deterministic failures (an undecodable image) would fail again; a worker death stalls the job
  // and BullMQ hands it to another worker, which is not an attempt.
  attempts: 1,
  // A job holds its image (up to 10 MB as base64): gone once done. Its answer is in the cache,
  // written by the worker before the job completes, where a requester that attaches late finds it.
  removeOnComplete: true,
  // Kept briefly so a requester polling its job reads why it failed; a new request for the same
  // job id removes a failed one first, so it never blocks a retry.
  removeOnFail: { age: 300, count: 100 },
};

/**
 * How a worker's failure reason starts when the request itself is at fault, so the API can answer
 * with the right status instead of a 500.
 */
export const EXPLAIN_FAILURE = {
  /** The image cannot be decoded (400). */
  badImage: "bad image: ",
  /** The version's checkpoint is missing from the artifact store or fails verification (409). */
  badCheckpoint: "bad checkpoint: ",
} as const;

/** A worker row that has not beaten for this long does not count as serving explanations. */
export const EXPLAIN_WORKER_STALE_MS = 60_000;
