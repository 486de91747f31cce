import * as tf from "@tensorflow/tfjs";
import { expect, it } from "vitest";
import { initBackend } from "../initBackend.js";

// No initBackend before "before": this file's process starts with tfjs-core's own gradient.
it("the broadcasting FusedBatchNorm gradient equals tfjs' tiled one", async () => {
  await tf.setBackend("cpu");
  const x = tf.randomNormal([3, 5, 4, 6], 0, 2, "float32", 11);
  const gamma = tf.randomNormal([6], 1, 0.3, "float32", 12);
  const beta = tf.randomNormal([6], 0, 0.3, "float32", 13);
  const w = tf.randomNormal([3, 5, 4, 6], 0, 1, "float32", 14);
  // Training-mode BN: batch moments feed the op, so mean/variance gradients are exercised too.
  const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(xx, [0, 1, 2]);
    return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, b, g, 1e-3), w));
  };
  const before = tf
    .grads(f)([x, gamma, beta])
    .map((t) => t.arraySync());
  await initBackend("cpu");
  const after = tf
    .grads(f)([x, gamma, beta])
    .map((t) => t.arraySync());
  expect(after).toEqual(before);
  // Guard against comparing a gradient with itself: the override must really be installed.
  expect(tf.getGradient(tf.FusedBatchNorm)?.gradFunc.toString()).toContain("rstd");
});
