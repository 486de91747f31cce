import type * as tf from "@tensorflow/tfjs";
import { loadCheckpoint } from "../checkpoint/checkpoint.js";
import { IMAGENET_MEAN, IMAGENET_STD } from "../data/augment.js";
import { decodeImage, decodeImageBuffer } from "../data/loader.js";
import { resolveBaseline } from "./baseline.js";
import { prepareForExplanation } from "./foldBatchNorm.js";
import { type IntegratedGradientsOptions, integratedGradients } from "./integratedGradients.js";
import { grayFromNormalised, type RenderOverlayOptions, renderOverlay } from "./renderOverlay.js";

export interface ExplainPredictionOptions {
  /** Checkpoint to load (model.json + weights.bin), used once and disposed. */
  checkpointDir?: string;
  /** An already loaded model (a server keeps one); not disposed. One of checkpointDir / model. */
  model?: tf.LayersModel;
  /**
   * `prepareForExplanation(model)`, when the caller keeps one next to `model` (a server); not
   * disposed. Otherwise one is made for this call and disposed after it.
   */
  explanationModel?: tf.LayersModel;
  imagePath?: string;
  imageBuffer?: Buffer;
  /** Already decoded and normalised [H, W, 3] (what decodeImage returns); skips decoding. */
  input?: Float32Array;
  /** Side the image is resized to; default the model's input size. */
  imageSize?: number;
  /** Class names in the model's output order (the data set's class folders, sorted). */
  classNames: readonly string[];
  /** Normalisation used in training; ImageNet by default, as in evaluation. */
  mean?: readonly number[];
  std?: readonly number[];
  /**
   * Integrated Gradients settings; defaults: predicted class, the baseline recorded in the
   * checkpoint (black when none), 50 steps adaptive to 5% / 1600 (memory-capped).
   */
  ig?: Omit<IntegratedGradientsOptions, "mean" | "std">;
  overlay?: Omit<RenderOverlayOptions, "width" | "height" | "predictedClassName">;
}

export interface ExplainPredictionResult {
  predictedClass: string;
  predictedIndex: number;
  /** Softmax probability per class name. */
  probabilities: Record<string, number>;
  /** The class the attributions explain (the predicted one unless ig.target was given). */
  explainedClass: string;
  completenessGap: number;
  stepsUsed: number;
  /** What the attributions are relative to: "black", "custom", or the class mean the checkpoint records. */
  baseline: string;
  overlayPng: Buffer;
  /** [H, W, 3] raw attributions, for callers that compute their own statistics. */
  attributions: Float32Array;
  imageSize: number;
}

function modelInputSize(model: tf.LayersModel): number | undefined {
  const s = model.inputs[0]?.shape;
  return typeof s?.[1] === "number" ? s[1] : undefined;
}

/**
 * Prediction + Integrated Gradients + overlay for one image, with the evaluation preprocessing
 * (decode, gray, resize, normalise) so the explanation is of the input the model was tested on.
 */
export async function explainPrediction(opts: ExplainPredictionOptions): Promise<ExplainPredictionResult> {
  if ([opts.imagePath, opts.imageBuffer, opts.input].filter((v) => v !== undefined).length !== 1) {
    throw new Error("explainPrediction: pass exactly one of imagePath, imageBuffer or input");
  }
  if ((opts.model === undefined) === (opts.checkpointDir === undefined)) {
    throw new Error("explainPrediction: pass exactly one of model or checkpointDir");
  }
  const owned = opts.model === undefined;
  const model = opts.model ?? (await loadCheckpoint(opts.checkpointDir as string));
  let prepared: tf.LayersModel | undefined;
  try {
    // IG runs the folded, fused model (same function, ~3x faster gradients); the baseline record
    // lives in the original's metadata.
    if (!opts.explanationModel) prepared = prepareForExplanation(model);
    const runModel = (opts.explanationModel ?? prepared) as tf.LayersModel;
    const expected = modelInputSize(model);
    const imageSize = opts.imageSize ?? expected;
    if (imageSize === undefined)
      throw new Error("explainPrediction: the model has no fixed input size; pass imageSize");
    if (expected !== undefined && expected !== imageSize) {
      throw new Error(
        `explainPrediction: imageSize ${imageSize} does not match the model's input size ${expected}`,
      );
    }
    const mean = opts.mean ?? IMAGENET_MEAN;
    const std = opts.std ?? IMAGENET_STD;
    const decodeOpts = { imageSize, grayscale: true, mean, std };
    const x =
      opts.input ??
      (opts.imageBuffer !== undefined
        ? await decodeImageBuffer(opts.imageBuffer, decodeOpts)
        : await decodeImage(opts.imagePath as string, decodeOpts));

    const base = resolveBaseline(model, opts.ig?.baseline, mean, std);
    const ig = await integratedGradients(runModel, x, { ...opts.ig, mean, std, baseline: base.values });
    const baseline = base.description;
    if (ig.probabilities.length !== opts.classNames.length) {
      throw new Error(
        `explainPrediction: the model has ${ig.probabilities.length} outputs but ${opts.classNames.length} class names were given`,
      );
    }
    let predictedIndex = 0;
    ig.probabilities.forEach((p, i) => {
      if (p > (ig.probabilities[predictedIndex] as number)) predictedIndex = i;
    });
    const name = (i: number) => opts.classNames[i] as string;
    const overlayPng = await renderOverlay(
      grayFromNormalised(x, mean[0] as number, std[0] as number),
      ig.attributions,
      {
        ...opts.overlay,
        width: imageSize,
        height: imageSize,
        predictedClassName: name(ig.target),
      },
    );
    return {
      predictedClass: name(predictedIndex),
      predictedIndex,
      probabilities: Object.fromEntries(ig.probabilities.map((p, i) => [name(i), p])),
      explainedClass: name(ig.target),
      completenessGap: ig.completenessGap,
      stepsUsed: ig.stepsUsed,
      baseline,
      overlayPng,
      attributions: ig.attributions,
      imageSize,
    };
  } finally {
    prepared?.dispose();
    if (owned) model.dispose();
  }
}
