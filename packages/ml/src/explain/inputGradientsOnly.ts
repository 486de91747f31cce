import * as tf from "@tensorflow/tfjs";
import { swapKernel } from "../backend/kernels/index.js";
import { wasmZeros } from "../backend/wasmZeros.js";

/**
 * Kernels whose output is a weight gradient. tfjs computes them even when only the input gradient
 * is asked for: a fused conv (what tf.layers.conv2d runs) uses customGrad, whose gradient function
 * returns [dx, dFilter] eagerly, before the engine prunes the inputs that are not being
 * differentiated. Plain (non-fused) depthwise convs are pruned already; the fused one is listed
 * for models that use it.
 */
export const WEIGHT_GRADIENT_KERNELS = [
  "Conv2DBackpropFilter",
  "DepthwiseConv2dNativeBackpropFilter",
] as const;

type ZerosMaker = (backend: unknown, shape: number[]) => tf.TensorInfo;

/** cpu and webgl keep tensors in JS-visible storage and make one from an array. */
const fromArray: ZerosMaker = (backend, shape) =>
  (
    backend as { makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo }
  ).makeTensorInfo(shape, "float32", new Float32Array(shape.reduce((a, d) => a * d, 1)));

/**
 * How each backend this is known to be safe on allocates a zero tensor inside a kernel, by backend
 * name. A backend not listed (tensorflow: libtensorflow computes the weight gradient on its own
 * device, cheaply) keeps its kernels: the weight gradient is computed and dropped, which is the
 * generic behaviour and gives the same input gradients.
 */
const ZEROS_BY_BACKEND: Record<string, ZerosMaker> = { wasm: wasmZeros, cpu: fromArray, webgl: fromArray };

/**
 * Runs a *synchronous* gradient computation with the weight-gradient kernels replaced by ones that
 * return zeros of the right shape, then restores the originals. A scoped override, not part of
 * installKernels: installed for good it would zero every training step's weight gradients. Measured on wasm, MobileNetV2-1.0,
 * 128 px, 8 images: 5.5-6.3 s -> 4.4-4.6 s per input-gradient batch, with bit-identical input
 * gradients. Safe because `fn` is synchronous: no other JS (a training loop on the same backend,
 * another request) can run while the replacement is registered, and `finally` restores it even if
 * `fn` throws. Never pass an async function.
 */
export function withInputGradientsOnly<T>(fn: () => T): T {
  const backendName = tf.getBackend();
  const saved: tf.KernelConfig[] = [];
  const zerosOf = ZEROS_BY_BACKEND[backendName];
  for (const kernelName of zerosOf ? WEIGHT_GRADIENT_KERNELS : []) {
    if (!zerosOf || !tf.getKernel(kernelName, backendName)) continue;
    const original = swapKernel({
      kernelName,
      backendName,
      kernelFunc: ({ attrs, backend }) =>
        zerosOf(backend, (attrs as unknown as { filterShape: number[] }).filterShape),
    });
    if (original) saved.push(original);
  }
  // Dense layers on feature maps (ConvNeXt's pointwise layers) back-propagate through BatchMatMul
  // with transposeA/transposeB set, which wasm runs on a scalar loop (~13x slower than its XNNPACK
  // GEMM). Inside this call the transposed operand is materialised first (wasm's Transpose) and the
  // shipped kernel runs untransposed: the same products, summed in another order. Training keeps
  // the shipped kernel.
  const matMul = backendName === "wasm" ? tf.getKernel("BatchMatMul", backendName) : undefined;
  const transpose = matMul ? tf.getKernel("Transpose", backendName) : undefined;
  if (matMul && transpose) {
    saved.push(matMul);
    swapKernel({
      kernelName: "BatchMatMul",
      backendName,
      kernelFunc: (args) => {
        const { inputs, attrs, backend } = args;
        const at = attrs as unknown as { transposeA: boolean; transposeB: boolean };
        if (!at.transposeA && !at.transposeB) return matMul.kernelFunc(args);
        const temps: tf.TensorInfo[] = [];
        const swap = (t: tf.TensorInfo) => {
          const perm = t.shape.map((_, i) => i);
          const n = perm.length;
          [perm[n - 2], perm[n - 1]] = [perm[n - 1] as number, perm[n - 2] as number];
          const r = transpose.kernelFunc({ inputs: { x: t }, attrs: { perm }, backend }) as tf.TensorInfo;
          temps.push(r);
          return r;
        };
        const a = at.transposeA ? swap(inputs.a as tf.TensorInfo) : (inputs.a as tf.TensorInfo);
        const b = at.transposeB ? swap(inputs.b as tf.TensorInfo) : (inputs.b as tf.TensorInfo);
        try {
          return matMul.kernelFunc({
            inputs: { a, b },
            attrs: { ...(attrs as object), transposeA: false, transposeB: false },
            backend,
          });
        } finally {
          for (const t of temps) (backend as { disposeData(id: object): void }).disposeData(t.dataId);
        }
      },
    });
  }
  try {
    const out = fn();
    if (out instanceof Promise) throw new Error("withInputGradientsOnly: fn must be synchronous");
    return out;
  } finally {
    for (const original of saved) swapKernel(original);
  }
}
