/**
 * ReLU / clip gradients in one kernel each.
 *
 * tfjs-core's gradients of Relu (mul(dy, cast(step(x)))), Relu6 (the same
 * with x <= 6 multiplied in) and ClipByValue (where(logicalAnd(x >= lo,
 * x <= hi), dy, zerosLike(dy))) are 3 to 5 elementwise kernels over the full
 * activation; every tf.layers ReLU(maxValue) layer (relu, then clipByValue)
 * runs two of them. The fused kernels here compute the same values in one pass
 * each (wasm SIMD, branch-free). fusedActivationGradConfigs points the
 * gradients at them on backends that have them and at tfjs-core's own
 * gradients everywhere else.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { f32, heapOffset, simdFor, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

export const RELU_GRAD_KERNEL = "XnnReluGrad";
export const CLIP_GRAD_KERNEL = "XnnClipByValueGrad";

function maskedGrad(
  name: string,
  dy: TensorInfo,
  x: TensorInfo,
  backend: WasmBackendLike,
  simd: (xOff: number, dyOff: number, outOff: number, n16: number) => void,
  scalar: (x: number, dy: number) => number,
): TensorInfo {
  if (dy.dtype !== "float32" || x.dtype !== "float32" || !tf.util.arraysEqual(dy.shape, x.shape)) {
    throw new Error(
      `${name}: expects float32 dy and x of one shape, got ${dy.dtype}[${dy.shape}] and ${x.dtype}[${x.shape}]`,
    );
  }
  const out = backend.makeOutput(dy.shape, "float32");
  const n = tf.util.sizeFromShape(dy.shape);
  let start = 0;
  if (simdFor(backend)) {
    start = n - (n % 16);
    simd(heapOffset(backend, x), heapOffset(backend, dy), heapOffset(backend, out), start / 16);
  }
  const o = f32(backend, out);
  const d = f32(backend, dy);
  const xv = f32(backend, x);
  for (let i = start; i < n; i++) o[i] = scalar(xv[i] as number, d[i] as number);
  return out;
}

export const reluGradConfig = wasmKernel<"dy" | "x", { hi?: number }>(
  RELU_GRAD_KERNEL,
  ["dy", "x"],
  ({ inputs: { dy, x }, attrs, backend }) => {
    const k = simdFor(backend);
    // dy * m, m = 1 for 0 < x <= hi, NaN for NaN x (step(NaN) is NaN), +0 otherwise.
    const hi = attrs.hi ?? Number.POSITIVE_INFINITY;
    return maskedGrad(
      RELU_GRAD_KERNEL,
      dy,
      x,
      backend,
      (xo, dyo, oo, n16) => k?.reluGrad(xo, dyo, oo, n16, 0, hi),
      (x, dy) => dy * (x > 0 && x <= hi ? 1 : Number.isNaN(x) ? Number.NaN : 0),
    );
  },
);

export const clipGradConfig = wasmKernel<"dy" | "x", { clipValueMin: number; clipValueMax: number }>(
  CLIP_GRAD_KERNEL,
  ["dy", "x"],
  ({ inputs: { dy, x }, attrs: { clipValueMin: lo, clipValueMax: hi }, backend }) => {
    const k = simdFor(backend);
    return maskedGrad(
      CLIP_GRAD_KERNEL,
      dy,
      x,
      backend,
      (xo, dyo, oo, n16) => k?.clipGrad(xo, dyo, oo, n16, lo, hi),
      (x, dy) => (x >= lo && x <= hi ? dy : 0),
    );
  },
);

/**
 * Gradients for the Relu, Relu6 and ClipByValue kernels (process-wide, every backend) that run
 * RELU_GRAD_KERNEL / CLIP_GRAD_KERNEL where the active backend registers them and `original`'s
 * gradient otherwise, plus the fused kernels' own gradients. `original` is the gradient registered
 * before these replace it (tfjs-core's); a kernel without one keeps none.
 */
export function fusedActivationGradConfigs(
  original: (kernelName: string) => tf.GradConfig | undefined,
): tf.GradConfig[] {
  const configs: tf.GradConfig[] = [];
  // Both fused kernels are linear in dy with a zero derivative in x (as step and the comparisons
  // are), which is all a second-order gradient through them needs.
  for (const fused of [RELU_GRAD_KERNEL, CLIP_GRAD_KERNEL]) {
    configs.push({
      kernelName: fused,
      inputsToSave: ["x"],
      gradFunc: (ddx, saved, a) => {
        const [x] = saved as [tf.Tensor];
        return {
          dy: () => tf.engine().runKernel(fused, { dy: ddx as tf.Tensor, x }, a) as tf.Tensor,
          x: () => tf.zerosLike(x),
        };
      },
    });
  }
  const wrap = (kernelName: string, fused: string, attrs: (a: tf.NamedAttrMap) => tf.NamedAttrMap) => {
    const tfjsGrad = original(kernelName);
    if (!tfjsGrad) return;
    configs.push({
      kernelName,
      inputsToSave: ["x"],
      gradFunc: (dy, saved, a) => {
        const g = dy as tf.Tensor;
        const [x] = saved as [tf.Tensor];
        if (
          !tf.getKernel(fused, tf.getBackend()) ||
          g.dtype !== "float32" ||
          x.dtype !== "float32" ||
          !tf.util.arraysEqual(g.shape, x.shape)
        ) {
          return tfjsGrad.gradFunc(dy, saved, a);
        }
        return {
          x: () =>
            tf.engine().runKernel(fused, { dy: g, x }, attrs(a) as unknown as tf.NamedAttrMap) as tf.Tensor,
        };
      },
    });
  };
  wrap("Relu", RELU_GRAD_KERNEL, () => ({}));
  wrap("Relu6", RELU_GRAD_KERNEL, () => ({ hi: 6 }));
  wrap(
    "ClipByValue",
    CLIP_GRAD_KERNEL,
    (a) => ({ clipValueMin: a.clipValueMin, clipValueMax: a.clipValueMax }) as unknown as tf.NamedAttrMap,
  );
  return configs;
}
