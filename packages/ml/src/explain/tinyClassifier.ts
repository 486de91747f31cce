import * as tf from "@tensorflow/tfjs";

/**
 * A few-thousand-parameter conv classifier with the real models' input/output contract
 * ([null, S, S, 3] normalised image -> logits). For tests of serving and explanation code in other
 * packages, where a MobileNetV2 would only add minutes; not for training experiments.
 */
export function buildTinyClassifier(opts: {
  imageSize: number;
  numClasses: number;
  seed: number;
}): tf.LayersModel {
  const input = tf.input({ name: "image", shape: [opts.imageSize, opts.imageSize, 3] });
  let h = tf.layers
    .conv2d({
      filters: 6,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.heNormal({ seed: opts.seed }),
    })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.heNormal({ seed: opts.seed + 1 }),
    })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({
      units: opts.numClasses,
      kernelInitializer: tf.initializers.glorotNormal({ seed: opts.seed + 2 }),
    })
    .apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}
