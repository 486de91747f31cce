import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { initBackend } from "../initBackend.js";

// No initBackend before "before": this file's process starts with tfjs-core's own gradient.
describe("the Tile gradient installed by initBackend", () => {
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
    await initBackend("cpu");
    const profile = await tf.profile(() => tf.tidy(() => grads([2, 3, 4, 1], [1, 1, 1, 5])));
    expect(profile.kernelNames).not.toContain("Slice");
    cases.forEach(([s, r], i) => {
      const after = grads(s, r);
      for (const [j, v] of after.entries()) expect(v).toBeCloseTo(before[i]?.[j] as number, 5);
    });
  });
});
