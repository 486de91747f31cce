import * as tf from "@tensorflow/tfjs";

/**
 * tfjs-core's FusedBatchNorm gradient tiles 1/sqrt(var + eps) to the full [N, H, W, C] input
 * shape before multiplying, and wasm's Tile is slow: it was the largest single cost of a
 * MobileNetV2 training step here (52 Tiles, ~40% of the step at 64 px). This is the same gradient
 * with a broadcasting multiply instead; every element is computed by the same two
 * multiplications in the same order, so results are identical.
 *
 * Process-wide (gradients are not per backend), which is safe precisely because the values do not
 * change.
 */
export const batchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ["x", "mean", "variance", "scale"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const varianceEpsilon = attrs.varianceEpsilon as number;
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const scaleValue = scale == null ? tf.scalar(1) : scale;
    const reductionAxes: number[] = [];
    if (mean.rank === 1) for (let i = 0; i < x.rank - 1; i++) reductionAxes.push(i);
    const xMinusMean = tf.sub(x, mean);
    const dyTimesScale = tf.mul(g, scaleValue);
    const rstd = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const minusHalfRCube = tf.mul(tf.mul(tf.mul(rstd, rstd), rstd), tf.scalar(-0.5));
    const reduce = (t: tf.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t);
    return {
      x: () => tf.reshape(tf.mul(tf.mul(g, rstd), scaleValue), x.shape),
      mean: () => tf.reshape(reduce(tf.mul(tf.mul(rstd, tf.scalar(-1)), dyTimesScale)), mean.shape),
      variance: () =>
        tf.reshape(reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)), mean.shape),
      scale: () => tf.reshape(reduce(tf.mul(g, tf.mul(xMinusMean, rstd))), mean.shape),
      offset: () => tf.reshape(reduce(g), mean.shape),
    };
  },
};
