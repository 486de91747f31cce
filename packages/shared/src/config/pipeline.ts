import { z } from "zod";
import { MODEL_NAMES } from "../models";

const positiveInt = z.number().int().positive();
const probability = z.number().min(0).lt(1);

export const classWeightingSchema = z.union([
  z.enum(["none", "balanced"]),
  z.array(z.number().positive()).min(2),
]);
export type ClassWeighting = z.infer<typeof classWeightingSchema>;

export const stageSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("fe") }),
  z.strictObject({
    kind: z.literal("ft"),
    /** How many of the backbone's last non-normalisation layers to unfreeze; "all" trains every one. */
    trainableLayers: z.union([z.number().int().min(0), z.literal("all")]),
    /**
     * "frozen" (the original recipe, for pretrained backbones): BatchNorm/LayerNorm scale and
     * shift stay as loaded. "trainable": those of the unfrozen part train too, which a backbone
     * trained from a random init needs (measured: F1 0.6 vs 0.97 after 30 epochs in PyTorch).
     */
    normalization: z.enum(["frozen", "trainable"]).default("frozen"),
  }),
]);
export type StageConfig = z.infer<typeof stageSchema>;

/** One training pipeline: every setting of the original study's hydra configs, and nothing implicit. */
export const pipelineSchema = z.strictObject({
  task: z.string().min(1),
  seed: z.number().int().min(0),
  data: z.strictObject({
    dir: z.string().min(1),
    /** When given, must equal the class folders found on disk (sorted). */
    classNames: z.array(z.string().min(1)).min(2).optional(),
    imageSize: z.number().int().min(32).max(1024),
    augment: z.boolean(),
    /** With a frozen backbone and no augmentation, compute backbone features once and train the head on them. */
    cacheFeatures: z.boolean().default(false),
    /**
     * Standard deviation of Gaussian noise added to each normalised training image, fresh every
     * step (never to validation or test images). Noise in training smooths the model's input
     * gradients, which is what pixel-level explanations (IG) read. Absent or 0: none. Implies
     * per-step inputs, so it turns feature caching off like augmentation does.
     */
    inputNoise: z.number().min(0).max(5).optional(),
  }),
  model: z.strictObject({
    arch: z.enum(MODEL_NAMES),
    widthMultiplier: z.number().positive().max(2).default(1),
    dropout: probability,
    /**
     * Hidden Dense + ReLU + dropout layers of the classifier head, input side first. Absent: the
     * study's head, [20, 10, 5]. [] is a linear head (dropout, then the logits) on the pooled
     * features, as torchvision's and Keras's MobileNetV2 classifiers are. Left out of the parsed
     * config when absent, so configs (and their hashes) written before it existed are unchanged.
     */
    headUnits: z.array(positiveInt.max(4096)).max(4).optional(),
    pretrainedDir: z.string().min(1).nullable().default(null),
  }),
  stage: stageSchema,
  classWeighting: classWeightingSchema,
  train: z.strictObject({
    batchSize: positiveInt.max(1024),
    epochs: positiveInt.max(10_000),
    learningRate: z.number().positive().max(10),
    weightDecay: z.number().min(0).max(1),
    warmupEpochs: z.number().int().min(0).default(0),
    earlyStopping: z.strictObject({ patience: positiveInt }),
    plateau: z.strictObject({
      factor: z.number().gt(0).lt(1),
      patience: positiveInt,
      minLr: z.number().min(0),
    }),
    /** Optional cap on batches per epoch, for smoke tests on large data sets. */
    maxBatchesPerEpoch: positiveInt.nullable().default(null),
    /**
     * Most images per forward/backward pass. A batch larger than this is split into micro-batches
     * whose gradients are summed before the one optimizer step of the batch. null (or absent): the
     * trainer chooses from a memory estimate for the backend. Left out of the parsed config when
     * absent, so configs (and their hashes) written before it existed are unchanged.
     */
    microBatchSize: positiveInt.max(1024).nullable().optional(),
  }),
  eval: z.strictObject({
    average: z.literal("weighted"),
    /** Images per class in the fixed probe set used to score explanation quality. */
    probePerClass: z.number().int().min(0).default(4),
    /**
     * Integrated Gradients baseline for this run's explanations: "black" (the default), or the
     * mean of up to 64 training images of one class ({ meanOf: normal }), stored in the
     * checkpoint so the API explains the model against the same reference.
     */
    baseline: z.union([z.literal("black"), z.strictObject({ meanOf: z.string().min(1) })]).optional(),
  }),
});

export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type PipelineConfigInput = z.input<typeof pipelineSchema>;
