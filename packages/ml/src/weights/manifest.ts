import { MODEL_NAMES } from "@xnn/shared";
import { z } from "zod";

/**
 * What imported weights expect of their inputs: pixels on the 0..1 scale, in `colorOrder`, then
 * (x - mean) / std per channel (mean/std listed in that channel order).
 */
export const inputNormalizationSchema = z.strictObject({
  colorOrder: z.enum(["RGB", "BGR"]),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
});
export type InputNormalization = z.infer<typeof inputNormalizationSchema>;

/** ImageNet statistics on 0..1 RGB pixels: what torchvision and timm weights expect, and what the data pipeline applies. */
export const IMAGENET_RGB: InputNormalization = {
  colorOrder: "RGB",
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** keras.applications.MobileNetV2 ("tf" mode): x / 127.5 - 1. */
export const KERAS_TF_MODE: InputNormalization = {
  colorOrder: "RGB",
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

/** keras.applications.ResNet50 ("caffe" mode): BGR, ImageNet mean subtracted on 0..255, no scaling. */
export const KERAS_CAFFE_MODE: InputNormalization = {
  colorOrder: "BGR",
  mean: [103.939 / 255, 116.779 / 255, 123.68 / 255],
  std: [1 / 255, 1 / 255, 1 / 255],
};

/** The `imported` section `xnn weights import` adds to a checkpoint manifest.json. */
export const importedWeightsSchema = z.strictObject({
  format: z.literal("xnn-imported-weights/1"),
  arch: z.enum(MODEL_NAMES),
  widthMultiplier: z.number().positive(),
  /** Graph conventions the weights were trained under; buildModel follows them. */
  convention: z.enum(["keras", "torch"]),
  /** Stride-2 conv padding of the source: "symmetric" (PyTorch k//2) or "tf-same" (Keras, 0/1 on even inputs). */
  padding: z.enum(["symmetric", "tf-same"]),
  /** BatchNorm epsilon of the source's BN layers; null for archs without BatchNorm. */
  bnEpsilon: z.number().positive().nullable(),
  /** LayerNorm epsilon (ConvNeXt); null for archs without LayerNorm. */
  lnEpsilon: z.number().positive().nullable(),
  input: inputNormalizationSchema,
  /** Output classes of the source classifier, stored as `head_logits`; null when the file had none. */
  classifierClasses: z.number().int().positive().nullable(),
  source: z.strictObject({
    file: z.string(),
    sha256: z.string(),
    format: z.enum(["safetensors", "keras-h5"]),
    /** Parameter naming of the file: "torchvision", "timm", "convnextv2-official" or "keras". */
    naming: z.string(),
    tensors: z.number().int().nonnegative(),
    /** Tensors read but carrying nothing the graph needs (BatchNorm's num_batches_tracked). */
    ignored: z.array(z.string()),
  }),
});
export type ImportedWeights = z.infer<typeof importedWeightsSchema>;

export function sameNormalization(a: InputNormalization, b: InputNormalization): boolean {
  const close = (x: readonly number[], y: readonly number[]) =>
    x.every((v, i) => Math.abs(v - (y[i] as number)) <= 1e-6 * Math.max(1, Math.abs(v)));
  return a.colorOrder === b.colorOrder && close(a.mean, b.mean) && close(a.std, b.std);
}

export function describeNormalization(n: InputNormalization): string {
  const f = (v: readonly number[]) => `[${v.map((x) => Number(x.toPrecision(6))).join(", ")}]`;
  return `${n.colorOrder} mean ${f(n.mean)} std ${f(n.std)} (on 0..1 pixels)`;
}
