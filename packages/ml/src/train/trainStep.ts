import * as tf from "@tensorflow/tfjs";
import type { ImageBatch } from "../data/loader.js";
import { mixSeed } from "../data/prng.js";
import { toInput } from "./featureCache.js";
import type { HeapGuard } from "./heapError.js";
import { splitEvenly } from "./microBatch.js";

/** The model (or its head) as a function of its input; `training` switches dropout and BatchNorm. */
export type Forward = (x: tf.Tensor, training: boolean) => tf.Tensor2D;

/**
 * Weighted softmax cross-entropy normalised like PyTorch's nn.CrossEntropyLoss(weight=w):
 * sum_i w[y_i] * l_i / sum_i w[y_i] (tfjs' fit classWeight divides by the batch size instead).
 * Returns the scalar loss and, separately, the weighted sum and weight sum so epoch losses can be
 * aggregated exactly over many batches.
 */
export function weightedCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D | null,
): { loss: tf.Scalar; weightedSum: tf.Scalar; weightSum: tf.Scalar } {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const onehot = tf.oneHot(labels, k).toFloat();
    const perSample = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1));
    const w = classWeights ? tf.gather(classWeights, labels) : tf.onesLike(perSample);
    const weightedSum = tf.sum(tf.mul(w, perSample)) as tf.Scalar;
    const weightSum = tf.sum(w) as tf.Scalar;
    return { loss: tf.div(weightedSum, weightSum) as tf.Scalar, weightedSum, weightSum };
  });
}

/** What one optimizer step on one batch adds to its epoch's training figures. */
export interface StepResult {
  /** sum over the batch of w[y_i] * l_i. */
  weightedLoss: number;
  /** sum over the batch of w[y_i]. */
  weight: number;
  /** Images the model classified correctly before the update. */
  correct: number;
  images: number;
}

/** Where the step is: it seeds dropout and input noise by the global step (reproducible, resumable). */
export interface StepPosition {
  epoch: number;
  globalStep: number;
}

export type TrainStep = (batch: ImageBatch, at: StepPosition) => Promise<StepResult>;

export interface TrainStepOptions {
  /** What the gradient tape sees: the model, or only its head when the backbone is frozen. */
  forward: Forward;
  /** FE without cached features: the backbone, run before and outside the gradient tape. */
  frozenBackbone: tf.LayersModel | null;
  /** The batches are cached features [b, dim], not images. */
  cached: boolean;
  varList: tf.Variable[];
  optimizer: tf.Optimizer;
  classWeights: tf.Tensor1D | null;
  /** The model's Dropout layers, reseeded every step. */
  dropouts: { seed?: number }[];
  seed: number;
  /** Standard deviation of the Gaussian noise added to training inputs; 0 for none. */
  inputNoise: number;
  guard: HeapGuard;
  /**
   * Most images per forward/backward pass (see microBatch.ts); a larger batch is split evenly and
   * its gradients summed before the one optimizer step. Absent: the whole batch at once.
   */
  microBatchSize?: number;
}

/** Images [from, to) of a batch, sharing its memory. */
function sliceBatch(b: ImageBatch, from: number, to: number): ImageBatch {
  const per = b.xs.length / b.ys.length;
  return {
    xs: b.xs.subarray(from * per, to * per),
    ys: b.ys.subarray(from, to),
    paths: b.paths.slice(from, to),
    shape: [to - from, b.shape[1], b.shape[2], b.shape[3]],
  };
}

/** The gradients of one (micro-)batch, with its predictions and [weighted loss sum, weight sum]. */
interface PassResult {
  grads: tf.NamedTensorMap;
  predicted: tf.Tensor;
  parts: tf.Tensor;
}

/**
 * Forward and backward on one micro-batch. Dropout masks and input noise are seeded by the global
 * step and the micro-batch's index, so a run is reproducible and resumes the same; micro-batch 0
 * keeps the seeds a whole-batch step had. `weightTotal` null: the gradient of the batch's own
 * weighted mean loss. A number: the gradient of this part's weighted loss sum divided by the whole
 * batch's weight sum, so the parts' gradients add up to the batch's exactly.
 */
function gradientPass(
  o: TrainStepOptions,
  b: ImageBatch,
  globalStep: number,
  part: number,
  weightTotal: number | null,
): PassResult {
  const seed = (...k: number[]) =>
    part === 0 ? mixSeed(o.seed, globalStep, ...k) : mixSeed(o.seed, globalStep, ...k, part);
  o.dropouts.forEach((d, i) => {
    d.seed = seed(i, 0xd0);
  });
  return tf.tidy(() => {
    const clean = toInput(b, o.cached);
    const input =
      o.inputNoise > 0
        ? tf.add(clean, tf.randomNormal(clean.shape, 0, o.inputNoise, "float32", seed(0x4e)))
        : clean;
    const backbone = o.frozenBackbone;
    const x = backbone ? tf.tidy(() => backbone.apply(input, { training: true }) as tf.Tensor) : input;
    const y = tf.tensor1d(b.ys, "int32");
    let predicted: tf.Tensor | null = null;
    let parts: tf.Tensor | null = null;
    const { grads } = tf.variableGrads(() => {
      const logits = o.forward(x, true);
      const ce = weightedCrossEntropy(logits, y, o.classWeights);
      predicted = tf.keep(tf.argMax(logits, 1));
      parts = tf.keep(tf.stack([ce.weightedSum, ce.weightSum]));
      return weightTotal === null ? ce.loss : (tf.div(ce.weightedSum, weightTotal) as tf.Scalar);
    }, o.varList);
    return { grads, predicted: predicted as unknown as tf.Tensor, parts: parts as unknown as tf.Tensor };
  });
}

/**
 * Forward and backward on `images` zero inputs of shape `inputShape` (without the batch axis), as
 * the step runs them, with nothing kept: the memory probe of planMicroBatch. BatchNorm layers in
 * training mode update their running statistics here; the caller restores them.
 */
export function probeStep(o: TrainStepOptions, inputShape: readonly number[], images: number): void {
  const per = inputShape.reduce((a, d) => a * d, 1);
  const b: ImageBatch = {
    xs: new Float32Array(images * per),
    ys: new Int32Array(images),
    paths: Array.from({ length: images }, () => ""),
    shape: [images, inputShape[0] ?? 1, inputShape[1] ?? 1, inputShape[2] ?? 1],
  };
  const r = gradientPass(o, b, 0, 0, null);
  tf.dispose([r.predicted, r.parts, ...Object.values(r.grads)]);
}

/**
 * One optimizer step per batch: forward pass, PyTorch-style weighted cross-entropy, gradients of
 * the trainable weights, AdamW update. The learning rate is whatever the optimizer holds (the
 * schedule hook sets it before each step).
 *
 * A batch larger than `microBatchSize` is split into even micro-batches run one after the other;
 * each adds the gradient of its weighted loss sum over the whole batch's weight sum, so the sum is
 * the gradient of sum_i w[y_i] l_i / sum_i w[y_i] over the batch, and the optimizer steps once.
 * That is exact where each image's loss depends on that image alone (dropout aside, whose masks
 * are drawn per micro-batch). BatchNorm in training mode breaks that: it normalises each
 * micro-batch with its own statistics and updates its running statistics once per micro-batch.
 */
export function createTrainStep(o: TrainStepOptions): TrainStep {
  const classWeights = o.classWeights ? Array.from(o.classWeights.dataSync()) : null;
  return async (b, { epoch, globalStep }) => {
    const images = b.ys.length;
    const sizes = splitEvenly(images, Math.min(images, o.microBatchSize ?? images));
    let stats = [0, 0];
    const predicted: number[] = [];
    try {
      if (sizes.length === 1) {
        const r = gradientPass(o, b, globalStep, 0, null);
        tf.tidy(() => o.optimizer.applyGradients(r.grads));
        predicted.push(...(await r.predicted.data()));
        stats = Array.from(await r.parts.data());
        tf.dispose([r.predicted, r.parts, ...Object.values(r.grads)]);
      } else {
        let weightTotal = 0;
        for (const y of b.ys) weightTotal += classWeights ? (classWeights[y] as number) : 1;
        let sum: tf.NamedTensorMap | null = null;
        let from = 0;
        for (const [part, size] of sizes.entries()) {
          const r = gradientPass(o, sliceBatch(b, from, from + size), globalStep, part, weightTotal);
          from += size;
          const prev: tf.NamedTensorMap | null = sum;
          sum = prev
            ? tf.tidy(() => {
                const next: tf.NamedTensorMap = {};
                for (const [name, g] of Object.entries(r.grads))
                  next[name] = tf.add(prev[name] as tf.Tensor, g);
                return next;
              })
            : r.grads;
          if (prev) tf.dispose([...Object.values(prev), ...Object.values(r.grads)]);
          predicted.push(...(await r.predicted.data()));
          const p = await r.parts.data();
          stats = [(stats[0] as number) + (p[0] as number), (stats[1] as number) + (p[1] as number)];
          tf.dispose([r.predicted, r.parts]);
        }
        const total = sum as tf.NamedTensorMap;
        tf.tidy(() => o.optimizer.applyGradients(total));
        tf.dispose(Object.values(total));
      }
    } catch (err) {
      throw o.guard(`training step (epoch ${epoch})`, err);
    }
    let correct = 0;
    for (let i = 0; i < images; i++) if (predicted[i] === b.ys[i]) correct++;
    return { weightedLoss: stats[0] as number, weight: stats[1] as number, correct, images };
  };
}
