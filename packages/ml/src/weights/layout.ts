import type { Layout } from "./names.js";
import { numel, type SourceTensor } from "./source.js";

/** The shape a source tensor has once in our layout, or null when its rank does not fit the layout. */
export function targetShape(shape: readonly number[], layout: Layout): number[] | null {
  switch (layout) {
    case "conv":
      return shape.length === 4 ? ([shape[2], shape[3], shape[1], shape[0]] as number[]) : null;
    case "depthwise":
      return shape.length === 4 && shape[1] === 1 ? ([shape[2], shape[3], shape[0], 1] as number[]) : null;
    case "linear":
      // [out, in], or a 1x1 conv's [out, in, 1, 1] (timm's conv_mlp ConvNeXt variants, e.g. atto).
      if (shape.length === 4 && shape[2] === 1 && shape[3] === 1) return [shape[1], shape[0]] as number[];
      return shape.length === 2 ? ([shape[1], shape[0]] as number[]) : null;
    case "vector": {
      // [C] or [1, ..., 1, C]: anything else would silently scramble values.
      const ones = shape.slice(0, -1).every((d) => d === 1);
      return shape.length >= 1 && ones ? [numel(shape)] : null;
    }
    case "same":
      return [...shape];
  }
}

/** Reorders a row-major tensor by axis permutation `perm` (out axis i = in axis perm[i]). */
function transpose(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i] as number;
  }
  const outShape = perm.map((p) => shape[p] as number);
  const strides = perm.map((p) => inStrides[p] as number);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src] as number;
    // Odometer over the output index, moving the source offset by the permuted strides.
    for (let a = rank - 1; a >= 0; a--) {
      idx[a] = (idx[a] as number) + 1;
      src += strides[a] as number;
      if ((idx[a] as number) < (outShape[a] as number)) break;
      src -= (strides[a] as number) * (outShape[a] as number);
      idx[a] = 0;
    }
  }
  return out;
}

/** The source tensor's values in our layout (shape already checked with targetShape). */
export function toTargetLayout(t: SourceTensor, layout: Layout): Float32Array {
  switch (layout) {
    case "conv":
      return transpose(t.data, t.shape, [2, 3, 1, 0]);
    case "depthwise":
      return transpose(t.data, t.shape, [2, 3, 0, 1]);
    case "linear":
      return transpose(t.data, t.shape.slice(0, 2), [1, 0]);
    default:
      return t.data;
  }
}
