import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { registerFastBatchNormGrad, registerFastTileGrad } from "./fastGrads.js";

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
  registerFastBatchNormGrad();
  const after = tf
    .grads(f)([x, gamma, beta])
    .map((t) => t.arraySync());
  expect(after).toEqual(before);
  // Guard against comparing a gradient with itself: the override must really be installed.
  expect(tf.getGradient(tf.FusedBatchNorm)?.gradFunc.toString()).toContain("rstd");
});

describe("registerFastTileGrad", () => {
  it("gives tfjs' Tile gradient (one reshape and sum instead of a slice per repetition)", async () => {
    await tf.setBackend("cpu");
    const cases: [number[], number[]][] = [
      [
        [2, 3, 4, 1],
        [1, 1, 1, 5],
      ],
      [
        [2, 3],
        [3, 2],
      ],
      [[4], [3]],
      [
        [1, 2, 2, 3],
        [2, 1, 3, 1],
      ],
    ];
    const grads = (shape: number[], reps: number[]) =>
      tf.tidy(() => {
        const x = tf.randomNormal(shape, 0, 1, "float32", 7);
        const w = tf.randomNormal(
          shape.map((d, i) => d * (reps[i] as number)),
          0,
          1,
          "float32",
          8,
        );
        return Array.from(
          tf
            .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, reps), w)))(x)
            .dataSync(),
        );
      });
    const before = cases.map(([s, r]) => grads(s, r));
    registerFastTileGrad();
    const profile = await tf.profile(() => tf.tidy(() => grads([2, 3, 4, 1], [1, 1, 1, 5])));
    expect(profile.kernelNames).not.toContain("Slice");
    cases.forEach(([s, r], i) => {
      const after = grads(s, r);
      for (const [j, v] of after.entries()) expect(v).toBeCloseTo(before[i]?.[j] as number, 5);
    });
  });
});
