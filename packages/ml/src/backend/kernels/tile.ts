/**
 * Tile: a faster wasm kernel, and a faster gradient for every backend.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

/**
 * Not a conv gradient, but on the same training path: the batch-norm gradient
 * tiles [1,1,1,C] to the full activation shape for every BN layer, and the
 * shipped wasm Tile (an element-at-a-time C++ loop) took 41% of a profiled
 * MobileNetV2 training step. Here each axis is replicated with copyWithin
 * doubling, i.e. memcpy of ever larger blocks.
 */
function tileImpl(backend: WasmBackendLike, x: TensorInfo, reps: number[]): TensorInfo {
  const rank = x.shape.length;
  if (reps.length !== rank) throw new Error(`Tile: reps ${reps} do not match rank ${rank}`);
  if (x.dtype === "string" || x.dtype === "complex64")
    throw new Error(`Tile on wasm does not support ${x.dtype}`);
  const outShape = x.shape.map((d, i) => d * (reps[i] as number));
  const out = backend.makeOutput(outShape, x.dtype);
  if (outShape.some((d) => d === 0)) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  if (rank === 0) {
    dst[0] = src[0] as number;
    return out;
  }
  const outStride = new Array<number>(rank).fill(1);
  const inStride = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) {
    outStride[a] = (outStride[a + 1] as number) * (outShape[a + 1] as number);
    inStride[a] = (inStride[a + 1] as number) * (x.shape[a + 1] as number);
  }
  // fill(a) writes the first replica of every sub-block along axis a, then
  // doubles it in place until all reps[a] copies exist.
  const replicate = (start: number, block: number, times: number): void => {
    let have = 1;
    while (have < times) {
      const n = Math.min(have, times - have);
      dst.copyWithin(start + have * block, start, start + n * block);
      have += n;
    }
  };
  const fill = (a: number, o: number, i: number): void => {
    const n = x.shape[a] as number;
    if (a === rank - 1) {
      dst.set(src.subarray(i, i + n), o);
    } else {
      for (let k = 0; k < n; k++)
        fill(a + 1, o + k * (outStride[a] as number), i + k * (inStride[a] as number));
    }
    replicate(o, n * (outStride[a] as number), reps[a] as number);
  };
  fill(0, 0, 0);
  return out;
}

export const tileConfig = wasmKernel<"x", { reps: number[] }>(
  "Tile",
  ["x"],
  ({ inputs: { x }, attrs, backend }) => tileImpl(backend, x, Array.from(attrs.reps)),
);

/**
 * tfjs-core's Tile gradient adds up one slice of dy per repetition, a JS loop of Slice + Add
 * kernels: ConvNeXt's LayerNorm tiles its per-position statistics across the channels, so one
 * input gradient of ConvNeXt V2 atto (64 px, 64 images) ran ~5,000 Slices and ~5,000 Adds. The
 * same sum as one reshape and one reduction: dy viewed as [r0, d0, r1, d1, ...] (repetition index
 * outside the block index on every axis), summed over the repetition axes. Values agree with the
 * loop up to float rounding (the additions happen in another order). Process-wide: gradients are
 * not per backend.
 */
export const tileGradConfig: tf.GradConfig = {
  kernelName: tf.Tile,
  inputsToSave: ["x"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const [x] = saved as [tf.Tensor];
    const reps = attrs.reps as number[];
    return {
      x: () => {
        const split: number[] = [];
        const repAxes: number[] = [];
        x.shape.forEach((d, i) => {
          repAxes.push(split.length);
          split.push(reps[i] as number, d);
        });
        return tf.reshape(tf.sum(tf.reshape(g, split), repAxes), x.shape);
      },
    };
  },
};
