import * as tf from "@tensorflow/tfjs";

/**
 * The gradient of Mean, bit for bit tfjs-core's with one full-size pass instead of three.
 *
 * tfjs-core returns div(mul(expandedDy, ones(x.shape)), n): a Fill, a broadcasting Multiply and a
 * Divide, each over the full input shape. Every BatchNormalization layer that trains on batch
 * statistics (FT of a frozen backbone, as the study runs it) takes two Means per step (tf.moments),
 * so a ResNet-18 FT step ran about 30 of each triple over full activations. expandedDy * 1 is
 * expandedDy exactly, so dividing the small reduced tensor by n and broadcasting it (Tile: memcpy
 * on wasm, tile.ts) gives the same values.
 *
 * Process-wide (gradients are not per backend), which is safe because the values do not change.
 */
export const meanGradConfig: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ["x"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x] = saved as [tf.Tensor];
    const g = dy as tf.Tensor;
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);
    const reduceSize = axes.reduce((n, a) => n * (x.shape[a] as number), 1);
    return {
      x: () => {
        const expandedShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
        // tfjs-core's order: dy (as float32, as its multiply by float32 ones makes it), then / n.
        const scaled = tf.div(tf.cast(tf.reshape(g, expandedShape), "float32"), reduceSize);
        return tf.broadcastTo(scaled, x.shape);
      },
    };
  },
};
