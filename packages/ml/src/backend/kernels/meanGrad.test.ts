import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../initBackend.js";
import { meanGradConfig } from "./meanGrad.js";

/** tfjs-core's Mean gradient, as written there: div(mul(expandedDy, ones(x.shape)), n). */
function tfjsCoreMeanGrad(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const n = axes.reduce((p, a) => p * (x.shape[a] as number), 1);
  const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return tf.div(tf.mul(tf.reshape(dy, expanded), tf.ones(x.shape, "float32")), n);
}

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

describe("Mean's gradient (one broadcast instead of Fill, Multiply and Divide)", () => {
  for (const backend of ["wasm", "cpu"] as const) {
    describe(backend, () => {
      beforeAll(async () => {
        await initBackend(backend);
      });

      it("is the installed gradient", () => {
        expect(tf.getGradient(tf.Mean)?.gradFunc).toBe(meanGradConfig.gradFunc);
      });

      const cases: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
        { shape: [8, 6, 6, 24], axis: [0, 1, 2], keepDims: false }, // tf.moments in BatchNormalization
        { shape: [8, 6, 6, 24], axis: [0, 1, 2], keepDims: true },
        { shape: [5, 7], axis: 0, keepDims: false },
        { shape: [5, 7], axis: -1, keepDims: true },
        { shape: [3, 4, 5], axis: [1], keepDims: false },
        { shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false }, // a loss' mean: to a scalar
      ];
      for (const c of cases) {
        it(`gives tfjs-core's values bit for bit: [${c.shape}] over ${JSON.stringify(c.axis)}${c.keepDims ? ", keepDims" : ""}`, () => {
          const x = tf.randomNormal(c.shape, 0, 1, "float32", 3);
          const w = tf.randomNormal(tf.mean(x, c.axis, c.keepDims).shape, 0, 1, "float32", 4);
          // d/dx sum(mean(x) * w): dy is w, of many magnitudes so the division rounds.
          const scaledW = tf.mul(w, tf.scalar(1e3));
          const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, c.axis, c.keepDims), scaledW)))(x);
          const reference = tfjsCoreMeanGrad(scaledW, x, c.axis);
          expect(ours.shape).toEqual(x.shape);
          expect(bits(ours)).toEqual(bits(reference));
          tf.dispose([x, w, scaledW, ours, reference]);
        });
      }
    });
  }
});
