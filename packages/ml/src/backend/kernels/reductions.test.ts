import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { relErr, rng, useWasmWithCpuReference } from "./testing/parity.js";

beforeAll(useWasmWithCpuReference);

describe("Sum / Mean kernels on wasm vs cpu", () => {
  const reduceCases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean; dtype?: "int32" }> =
    [
      { shape: [4, 5, 6, 7], axis: [0, 1, 2], keepDims: false }, // batch-norm moments/gradients
      { shape: [4, 5, 6, 37], axis: [0, 1, 2], keepDims: true },
      { shape: [2, 300, 9], axis: [0, 1], keepDims: false }, // more rows than one chunk
      { shape: [3, 4, 16], axis: [-3, -2], keepDims: false },
      { shape: [6, 10], axis: 0, keepDims: false },
      { shape: [3, 4, 5], axis: [1, 2], keepDims: false }, // not leading: shipped kernel
      { shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false }, // all axes: shipped kernel
      { shape: [3, 4, 5], axis: [0, 1], keepDims: false, dtype: "int32" },
    ];
  for (const kernel of ["Sum", "Mean"] as const) {
    for (const [i, c] of reduceCases.entries()) {
      it(`${kernel} [${c.shape}] axis=${JSON.stringify(c.axis)} keepDims=${c.keepDims}${c.dtype ? ` ${c.dtype}` : ""}`, async () => {
        const r = rng(600 + i);
        const n = c.shape.reduce((a, b) => a * b, 1);
        const vals = Array.from({ length: n }, () => (c.dtype ? Math.round(r() * 50) : r() * 4 + 1));
        const exec = () => {
          const t = tf.tensor(vals, c.shape, c.dtype ?? "float32");
          const out = tf
            .engine()
            .runKernel(kernel, { x: t }, { axis: c.axis, keepDims: c.keepDims }) as tf.Tensor;
          t.dispose();
          return out;
        };
        await tf.setBackend("cpu");
        const ref = exec();
        const refVals = (await ref.data()) as Float32Array;
        const refShape = ref.shape;
        ref.dispose();
        await tf.setBackend("wasm");
        const dataBefore = tf.engine().backend.numDataIds();
        const got = exec();
        expect(got.shape).toEqual(refShape);
        expect(relErr((await got.data()) as Float32Array, refVals)).toBeLessThan(1e-5);
        got.dispose();
        expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
      });
    }
  }
});
