import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { rng, useWasmWithCpuReference } from "./testing/parity.js";

beforeAll(useWasmWithCpuReference);

describe("Tile kernel on wasm vs cpu", () => {
  const tileCases: Array<{ shape: number[]; reps: number[]; dtype: "float32" | "int32" | "bool" }> = [
    { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1], dtype: "float32" }, // the batch-norm gradient's use
    { shape: [2, 3], reps: [3, 2], dtype: "float32" },
    { shape: [2, 1, 3], reps: [1, 4, 1], dtype: "int32" },
    { shape: [3, 2, 2], reps: [2, 1, 3], dtype: "bool" },
    { shape: [7], reps: [5], dtype: "float32" },
    { shape: [2, 3, 1, 4], reps: [1, 1, 1, 1], dtype: "float32" },
    { shape: [2, 0], reps: [2, 3], dtype: "float32" },
  ];
  for (const [i, c] of tileCases.entries()) {
    it(`Tile ${c.dtype} [${c.shape}] x [${c.reps}]`, async () => {
      const r = rng(500 + i);
      const n = c.shape.reduce((a, b) => a * b, 1);
      const vals = Array.from({ length: n }, () =>
        c.dtype === "bool" ? Number(r() > 0) : Math.round(r() * 100),
      );
      const exec = () => {
        const t = tf.tensor(vals, c.shape, c.dtype);
        const out = tf.engine().runKernel("Tile", { x: t }, { reps: c.reps }) as tf.Tensor;
        t.dispose();
        return out;
      };
      await tf.setBackend("cpu");
      const ref = exec();
      const refVals = Array.from(await ref.data());
      const refShape = ref.shape;
      ref.dispose();
      await tf.setBackend("wasm");
      const dataBefore = tf.engine().backend.numDataIds();
      const got = exec();
      expect(got.shape).toEqual(refShape);
      expect(got.dtype).toBe(c.dtype);
      expect(Array.from(await got.data())).toEqual(refVals);
      got.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    });
  }
});
