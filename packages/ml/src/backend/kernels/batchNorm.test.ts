import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimdKernels, simdKernelsFor } from "../simdDot.js";
import { DEFAULT_WASM_KERNEL_OPTIONS } from "./options.js";
import { setWasmKernelOptions } from "./setWasmKernelOptions.js";
import { randArr, relErr, rng, TOL, useWasmWithCpuReference } from "./testing/parity.js";
import type { WasmBackendLike } from "./wasmKernel.js";

beforeAll(async () => {
  await useWasmWithCpuReference();
  expect(DEFAULT_WASM_KERNEL_OPTIONS.batchNorm).toBe(true);
});

afterAll(() => {
  setWasmKernelOptions({ batchNorm: DEFAULT_WASM_KERNEL_OPTIONS.batchNorm });
});

/** Counts the calls of the SIMD loop our kernel runs, for as long as `body` runs. */
async function countingSimdCalls<T>(body: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const memory = (tf.findBackend("wasm") as unknown as WasmBackendLike).wasm?.asm?.memory;
  const k = simdKernelsFor(memory) as SimdKernels;
  const original = k.batchNorm;
  let calls = 0;
  k.batchNorm = (...a) => {
    calls++;
    original(...a);
  };
  try {
    return { result: await body(), calls };
  } finally {
    k.batchNorm = original;
  }
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

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
    { label: "NHWC without offset or scale", xShape: [2, 3, 3, 12], offset: false, scale: false },
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

  it("leaves calls without scale or offset to the shipped kernel", async () => {
    const r = rng(3);
    const arrays = {
      x: randArr(2 * 4 * 4 * 8, r),
      mean: randArr(8, r),
      variance: randArr(8, r).map((v) => Math.abs(v) + 0.1),
    };
    const { calls } = await countingSimdCalls(async () => {
      await batchNormOn("wasm", [2, 4, 4, 8], arrays, [8], 1e-3);
      await batchNormOn("wasm", [2, 4, 4, 8], { ...arrays, offset: randArr(8, r) }, [8], 1e-3);
    });
    expect(calls).toBe(0);
  });

  it("leaves channel counts that are not a multiple of 4 to the shipped kernel, with the same values", async () => {
    const r = rng(9);
    const xShape = [2, 3, 3, 5];
    const arrays = {
      x: randArr(90, r),
      mean: randArr(5, r),
      variance: randArr(5, r).map((v) => Math.abs(v) + 0.1),
    };
    const { result: wasm, calls } = await countingSimdCalls(() =>
      batchNormOn("wasm", xShape, arrays, [5], 1e-3),
    );
    expect(calls).toBe(0);
    const cpu = await batchNormOn("cpu", xShape, arrays, [5], 1e-3);
    expect(relErr(wasm, cpu)).toBeLessThan(1e-5);
  });

  it("frees its per-channel temporaries", async () => {
    const x = tf.ones([2, 4, 4, 8]);
    const p = tf.ones([8]);
    const before = tf.engine().backend.numDataIds();
    const { calls } = await countingSimdCalls(async () => {
      const y = tf.batchNorm(x, p, p, p, p, 1e-3);
      const z = tf.batchNorm(x, p, p, p, p, 1e-3);
      expect(tf.engine().backend.numDataIds()).toBe(before + 2);
      tf.dispose([y, z]);
    });
    expect(calls).toBe(2);
    tf.dispose([x, p]);
  });

  // How BatchNormalization runs in training: the batch's own moments, then FusedBatchNorm. The
  // gradient (batchNormGrad.ts) reads x, mean and variance, not this kernel's output, so only the
  // forward value can change; both are checked on a MobileNetV2 0.35 shape at 64 px.
  it("matches the cpu backend in training mode (batch moments), value and gradients", async () => {
    const xShape = [8, 16, 16, 24];
    const C = 24;
    const r = rng(11);
    const n = xShape.reduce((a, b) => a * b, 1);
    // Post-ReLU6-like inputs: positive, with a per-channel mean larger than the spread.
    const x = randArr(n, r).map((v, i) => 2 + (i % C) / 8 + v);
    const gamma = randArr(C, r).map((v) => 1 + v);
    const beta = randArr(C, r);
    const w = randArr(n, r);
    const on = async (backend: string) => {
      await tf.setBackend(backend);
      const [xt, gt, bt, wt] = [
        tf.tensor(x, xShape),
        tf.tensor1d(gamma),
        tf.tensor1d(beta),
        tf.tensor(w, xShape),
      ];
      const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 1e-3), wt));
      };
      const y = tf.tidy(() => {
        const { mean, variance } = tf.moments(xt, [0, 1, 2]);
        return tf.batchNorm(xt, mean, variance, bt, gt, 1e-3);
      });
      const grads = tf.grads(f)([xt, gt, bt]);
      const out = [(await y.data()) as Float32Array, ...(await Promise.all(grads.map((g) => g.data())))];
      tf.dispose([xt, gt, bt, wt, y, ...grads]);
      await tf.setBackend("wasm");
      return out as Float32Array[];
    };
    const wasm = await on("wasm");
    const cpu = await on("cpu");
    expect(relErr(wasm[0] as Float32Array, cpu[0] as Float32Array), "y").toBeLessThan(1e-5);
    ["dx", "dgamma", "dbeta"].forEach((name, i) => {
      expect(relErr(wasm[i + 1] as Float32Array, cpu[i + 1] as Float32Array), name).toBeLessThan(TOL);
    });
  });

  // The point of this kernel: the same values as the shipped one, bit for bit, so switching it on
  // changes no trained model (learning.test.ts's from-scratch MobileNetV2 follows any rounding).
  const exactCases: {
    label: string;
    xShape: number[];
    moments?: boolean;
  }[] = [
    { label: "NHWC, offset and scale", xShape: [4, 9, 9, 32] },
    { label: "NHWC, another shape", xShape: [2, 5, 5, 16] },
    { label: "rank 2", xShape: [7, 1280] },
    {
      label: "training mode (the batch's moments)",
      xShape: [8, 8, 8, 96],
      moments: true,
    },
  ];
  for (const c of exactCases) {
    it(`gives the shipped kernel's values bit for bit: ${c.label}`, async () => {
      const n = c.xShape.reduce((a, b) => a * b, 1);
      const C = c.xShape.at(-1) as number;
      const r = rng(n + C);
      const x = randArr(n, r).map((v, i) => (c.moments ? 3 + (i % C) / 7 + v : v * 4));
      const arrays = {
        x,
        mean: randArr(C, r),
        variance: randArr(C, r).map((v) => Math.abs(v) * 3 + 1e-4),
        offset: randArr(C, r),
        scale: randArr(C, r),
      };
      if (c.moments) {
        const { mean, variance } = tf.tidy(() => tf.moments(tf.tensor(x, c.xShape), [0, 1, 2]));
        arrays.mean = Float32Array.from(await mean.data());
        arrays.variance = Float32Array.from(await variance.data());
        tf.dispose([mean, variance]);
      }
      const { result: ours, calls } = await countingSimdCalls(() =>
        batchNormOn("wasm", c.xShape, arrays, [C], 1e-3),
      );
      expect(calls).toBe(1);
      const before = setWasmKernelOptions({ batchNorm: false });
      try {
        const { result: shipped, calls: shippedCalls } = await countingSimdCalls(() =>
          batchNormOn("wasm", c.xShape, arrays, [C], 1e-3),
        );
        expect(shippedCalls).toBe(0);
        expect(bits(ours)).toEqual(bits(shipped));
      } finally {
        setWasmKernelOptions(before);
      }
    });
  }
});
