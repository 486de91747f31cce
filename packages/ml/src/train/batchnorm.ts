import * as tf from "@tensorflow/tfjs";

type MutableBN = tf.layers.Layer & { momentum: number };

export function batchNormLayers(model: tf.LayersModel): MutableBN[] {
  return model.layers.filter((l) => l.getClassName() === "BatchNormalization") as MutableBN[];
}

/**
 * PyTorch's BatchNorm2d default momentum 0.1 (new = 0.9 * old + 0.1 * batch) is Keras/tfjs
 * momentum 0.9. The study ran PyTorch defaults; the builders use 0.99, which leaves the running
 * statistics (used at validation) mostly at their initial values for a short run.
 */
export function setBatchNormMomentum(model: tf.LayersModel, momentum: number): number {
  const layers = batchNormLayers(model);
  for (const l of layers) l.momentum = momentum;
  return layers.length;
}

/**
 * Sets every BatchNorm's running mean/variance to the average of batch statistics over `inputs`
 * (a cumulative moving average: momentum (k-1)/k at batch k), the "update_bn" recalibration.
 * A randomly initialised backbone evaluated with its initial running stats (mean 0, var 1) shrinks
 * its output to ~1e-9, so features cached in inference mode are useless without this.
 * Restores each layer's momentum afterwards.
 */
export async function calibrateBatchNorm(
  model: tf.LayersModel,
  inputs: AsyncIterable<tf.Tensor> | Iterable<tf.Tensor>,
  afterBatch?: () => Promise<void>,
): Promise<number> {
  const layers = batchNormLayers(model);
  const saved = layers.map((l) => l.momentum);
  let k = 0;
  try {
    for await (const x of inputs) {
      k++;
      for (const l of layers) l.momentum = (k - 1) / k;
      tf.tidy(() => {
        model.apply(x, { training: true });
      });
      x.dispose();
      await afterBatch?.();
    }
  } finally {
    layers.forEach((l, i) => {
      l.momentum = saved[i] as number;
    });
  }
  return k;
}

/**
 * Runs `fn` and puts every BatchNorm's weights back as they were: a probe that runs the model in
 * training mode (memory estimates) must not move the running statistics of the run it measures.
 */
export async function withBatchNormRestored<T>(model: tf.LayersModel, fn: () => Promise<T>): Promise<T> {
  const layers = batchNormLayers(model);
  const saved = layers.map((l) => l.getWeights().map((w) => w.clone()));
  try {
    return await fn();
  } finally {
    layers.forEach((l, i) => {
      l.setWeights(saved[i] as tf.Tensor[]);
    });
    tf.dispose(saved.flat());
  }
}
