import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { randArr, relErr, rng, useWasmWithCpuReference } from "./testing/parity.js";

beforeAll(useWasmWithCpuReference);

/** tf.batchNorm on `backend` with fresh tensors from the same arrays. */
async function batchNormOn(
  backend: string,
  xShape: number[],
  arrays: {
    x: Float32Array;
    mean: Float32Array;
    variance: Float32Array;
    offset?: Float32Array;
    scale?: Float32Array;
  },
  paramShape: number[],
  eps: number,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = (a: Float32Array | undefined, shape: number[]) => (a ? tf.tensor(a, shape) : undefined);
  const x = tf.tensor(arrays.x, xShape);
  const mean = tf.tensor(arrays.mean, paramShape);
  const variance = tf.tensor(arrays.variance, paramShape);
  const offset = t(arrays.offset, paramShape);
  const scale = t(arrays.scale, paramShape);
  const y = tf.batchNorm(x, mean, variance, offset, scale, eps);
  const out = (await y.data()) as Float32Array;
  tf.dispose([x, mean, variance, y, ...(offset ? [offset] : []), ...(scale ? [scale] : [])]);
  await tf.setBackend("wasm");
  return out;
}

describe("FusedBatchNorm on wasm", () => {
  const cases: { label: string; xShape: number[]; offset: boolean; scale: boolean }[] = [
    { label: "NHWC with offset and scale", xShape: [3, 5, 7, 16], offset: true, scale: true },
    { label: "NHWC without scale", xShape: [2, 4, 4, 8], offset: true, scale: false },
    { label: "NHWC without offset or scale", xShape: [2, 3, 3, 5], offset: false, scale: false },
    { label: "rank 2 (a dense layer's batch norm)", xShape: [6, 12], offset: true, scale: true },
  ];
  for (const c of cases) {
    it(`matches the cpu backend: ${c.label}`, async () => {
      const r = rng(c.xShape.reduce((a, b) => a * b, 1));
      const C = c.xShape.at(-1) as number;
      const arrays = {
        x: randArr(
          c.xShape.reduce((a, b) => a * b, 1),
          r,
        ),
        mean: randArr(C, r),
        variance: randArr(C, r).map((v) => Math.abs(v) + 0.1),
        ...(c.offset ? { offset: randArr(C, r) } : {}),
        ...(c.scale ? { scale: randArr(C, r) } : {}),
      };
      const wasm = await batchNormOn("wasm", c.xShape, arrays, [C], 1e-3);
      const cpu = await batchNormOn("cpu", c.xShape, arrays, [C], 1e-3);
      expect(relErr(wasm, cpu)).toBeLessThan(1e-5);
    });
  }

  it("leaves operands that are not per channel to the shipped kernel, with the same values", async () => {
    const r = rng(7);
    const xShape = [2, 3, 3, 4];
    const n = 2 * 3 * 3 * 4;
    // Full-shape mean and variance (allowed by tf.batchNorm) are not per-channel vectors.
    const arrays = {
      x: randArr(n, r),
      mean: randArr(n, r),
      variance: randArr(n, r).map((v) => Math.abs(v) + 0.1),
    };
    const wasm = await batchNormOn("wasm", xShape, arrays, xShape, 1e-5);
    const cpu = await batchNormOn("cpu", xShape, arrays, xShape, 1e-5);
    expect(relErr(wasm, cpu)).toBeLessThan(1e-5);
  });

  it("frees its per-channel temporaries", async () => {
    const x = tf.ones([2, 4, 4, 3]);
    const p = tf.ones([3]);
    const before = tf.engine().backend.numDataIds();
    const y = tf.batchNorm(x, p, p, p, p, 1e-3);
    expect(tf.engine().backend.numDataIds()).toBe(before + 1);
    tf.dispose([x, p, y]);
  });
});
