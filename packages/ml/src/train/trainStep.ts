import * as tf from "@tensorflow/tfjs";
import type { ImageBatch } from "../data/loader.js";
import { mixSeed } from "../data/prng.js";
import { toInput } from "./featureCache.js";
import type { HeapGuard } from "./heapError.js";

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
}

/**
 * One optimizer step per batch: forward pass, PyTorch-style weighted cross-entropy, gradients of
 * the trainable weights, AdamW update. The learning rate is whatever the optimizer holds (the
 * schedule hook sets it before each step).
 */
export function createTrainStep(o: TrainStepOptions): TrainStep {
  return async (b, { epoch, globalStep }) => {
    // tfjs' seeded dropout draws the same mask on every call; a per-step seed restores fresh
    // masks while keeping runs reproducible (and resumable: it depends only on the step).
    o.dropouts.forEach((d, i) => {
      d.seed = mixSeed(o.seed, globalStep, i, 0xd0);
    });
    let stats: Float32Array | Int32Array;
    let predicted: Int32Array | Float32Array;
    try {
      const out = tf.tidy(() => {
        const clean = toInput(b, o.cached);
        // Seeded by step, like dropout: reproducible and the same after a resume.
        const input =
          o.inputNoise > 0
            ? tf.add(
                clean,
                tf.randomNormal(clean.shape, 0, o.inputNoise, "float32", mixSeed(o.seed, globalStep, 0x4e)),
              )
            : clean;
        const backbone = o.frozenBackbone;
        const x = backbone ? tf.tidy(() => backbone.apply(input, { training: true }) as tf.Tensor) : input;
        const y = tf.tensor1d(b.ys, "int32");
        let pred: tf.Tensor | null = null;
        let parts: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const logits = o.forward(x, true);
          const ce = weightedCrossEntropy(logits, y, o.classWeights);
          pred = tf.keep(tf.argMax(logits, 1));
          parts = tf.keep(tf.stack([ce.weightedSum, ce.weightSum]));
          return ce.loss;
        }, o.varList);
        o.optimizer.applyGradients(grads);
        tf.dispose([value, ...Object.values(grads)]);
        return [pred as unknown as tf.Tensor, parts as unknown as tf.Tensor] as const;
      });
      predicted = (await out[0].data()) as Int32Array;
      stats = (await out[1].data()) as Float32Array;
      tf.dispose([...out]);
    } catch (err) {
      throw o.guard(`training step (epoch ${epoch})`, err);
    }
    let correct = 0;
    for (let i = 0; i < b.ys.length; i++) if (predicted[i] === b.ys[i]) correct++;
    return {
      weightedLoss: stats[0] as number,
      weight: stats[1] as number,
      correct,
      images: b.ys.length,
    };
  };
}
