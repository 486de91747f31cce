import * as tf from "@tensorflow/tfjs";

/**
 * Our models output logits (no softmax layer). tfjs' string losses "sparseCategoricalCrossentropy"
 * and "categoricalCrossentropy" assume probabilities (Keras from_logits=False): fed logits they
 * clip and log them, giving meaningless, large losses. Compile with this instead.
 *
 * Targets must be one-hot [b, C]: with a function loss, fit() insists the target shape equal the
 * output shape (only the string sparse losses are exempt).
 */
export function crossEntropyFromLogits(yTrueOneHot: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(yTrueOneHot, logits) as tf.Scalar;
}
