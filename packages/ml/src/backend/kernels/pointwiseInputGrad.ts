/**
 * The input gradient of a 1x1, stride-1 convolution whose output went through relu / relu6 (or
 * nothing), as one kernel: dx [P, Ci] = (dy masked by the activation's derivative) [P, Co] x W^T,
 * P = N*H*W pixels. For explanation (FusedConv's gradient); training keeps Conv2DBackpropInput.
 *
 * Two paths. The GEMM path masks dy with the activation gradient kernel (one SIMD pass) and runs
 * simdDot's rowGemm on it in place (no packing) against W^T packed once per filter (cachedFilter):
 * the same sums in the same order as XNNPACK, so the same bits. Otherwise (no wasm SIMD, or Ci not
 * a multiple of 4) the activation gradient kernel and then Conv2DBackpropInput (XNNPACK's 1x1
 * convolution with the transposed filter) run as they would without this kernel.
 *
 * Measured on MobileNetV2 1.0's 1x1 layers at 224 px, batch 9, each path on the same tensors,
 * alternating in one process (`pnpm bench pointwise`; root README, "`pnpm bench ig`"): 1.13-1.18x
 * XNNPACK summed. The earlier GEMM path packed dy in JS (4 pixels interleaved), which lost to XNNPACK on the
 * large maps' expansion layers; reading dy in place removed that cost.
 */

import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import type { SimdKernels } from "../simdDot.js";
import { reluGradConfig } from "./activationGrads.js";
import { conv2DBackpropInputConfig } from "./conv2dBackpropInput.js";
import { cachedFilter } from "./filterCache.js";
import { wasmKernelOptions } from "./options.js";
import { f32, free, heapOffset, simdFor, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

export const POINTWISE_INPUT_GRAD_KERNEL = "XnnPointwiseInputGrad";

export interface PointwiseInputGradAttrs {
  /** Shape of the convolution's input (of dx): [N, H, W, Ci]. */
  inputShape: number[];
  /**
   * Mask dy where the activation output y (input "y") is not in (0, hi]: relu passes +Infinity,
   * relu6 the largest float below 6 (see FusedConv). null: no activation, no "y" input.
   */
  hi: number | null;
}

export const pointwiseInputGradConfig = wasmKernel<"dy" | "filter", PointwiseInputGradAttrs>(
  POINTWISE_INPUT_GRAD_KERNEL,
  ["dy", "filter"],
  ({ inputs: { dy, filter }, attrs, backend, args }) => {
    const y = args.inputs.y as TensorInfo | undefined;
    const [N, H, W, Ci] = attrs.inputShape as [number, number, number, number];
    const [kh, kw, fCi, Co] = filter.shape as [number, number, number, number];
    if (kh !== 1 || kw !== 1 || fCi !== Ci || dy.shape[3] !== Co || dy.shape[1] !== H || dy.shape[2] !== W) {
      throw new Error(
        `${POINTWISE_INPUT_GRAD_KERNEL}: expects a 1x1 stride-1 filter [1, 1, ${Ci}, Co] and dy [${N}, ${H}, ${W}, Co], got filter [${filter.shape}] and dy [${dy.shape}]`,
      );
    }
    if ((attrs.hi === null) !== (y === undefined))
      throw new Error(`${POINTWISE_INPUT_GRAD_KERNEL}: input y is needed exactly when hi is set`);
    const simd = simdFor(backend);
    const gemm =
      simd !== null && Ci % 4 === 0 && dy.dtype === "float32" && wasmKernelOptions.pointwiseInputGradGemm;
    if (gemm)
      return pointwiseInputGradGemm(
        backend,
        dy,
        y ?? null,
        attrs.hi,
        filter,
        attrs.inputShape,
        Ci,
        Co,
        simd.rowGemm,
      );
    // The same kernels FusedConv's gradient runs without this one.
    const masked =
      y === undefined
        ? dy
        : (reluGradConfig.kernelFunc({
            inputs: { dy, x: y },
            attrs: { hi: attrs.hi } as unknown as tf.NamedAttrMap,
            backend: backend as unknown as tf.KernelBackend,
          }) as TensorInfo);
    try {
      return conv2DBackpropInputConfig.kernelFunc({
        inputs: { dy: masked, filter },
        attrs: {
          strides: [1, 1],
          pad: "valid",
          dataFormat: "NHWC",
          dilations: [1, 1],
          dimRoundingMode: undefined,
          inputShape: attrs.inputShape,
        } as unknown as tf.NamedAttrMap,
        backend: backend as unknown as tf.KernelBackend,
      }) as TensorInfo;
    } finally {
      if (masked !== dy) free(backend, masked);
    }
  },
);

function pointwiseInputGradGemm(
  backend: WasmBackendLike,
  dy: TensorInfo,
  y: TensorInfo | null,
  hi: number | null,
  filter: TensorInfo,
  inputShape: number[],
  Ci: number,
  Co: number,
  rowGemm: SimdKernels["rowGemm"],
): TensorInfo {
  // B = W^T [Co, Ci] packed as [Ci/8][Co][8], then [Co][4] when Ci/4 is odd (rowGemm's layout).
  const groups = Ci >> 2;
  const pairs = groups >> 1;
  const packW = (): TensorInfo => {
    const t = backend.makeOutput([Co * Ci], "float32");
    const w = f32(backend, filter);
    const b = f32(backend, t);
    for (let ci = 0; ci < Ci; ci++) {
      const q = ci >> 3;
      const width = q < pairs ? 8 : 4;
      for (let co = 0, s = ci * Co, d = q * Co * 8 + (ci - q * 8); co < Co; co++, d += width)
        b[d] = w[s + co] as number;
    }
    return t;
  };
  const bPack = cachedFilter(backend, filter, "gemm:wT8", packW);
  const P = tf.util.sizeFromShape(inputShape) / Ci;
  // dy masked by the activation's derivative: the relu gradient kernel's values, one SIMD pass
  const masked =
    y === null
      ? dy
      : (reluGradConfig.kernelFunc({
          inputs: { dy, x: y },
          attrs: { hi } as unknown as tf.NamedAttrMap,
          backend: backend as unknown as tf.KernelBackend,
        }) as TensorInfo);
  const out = backend.makeOutput(inputShape, "float32");
  rowGemm(
    heapOffset(backend, out),
    heapOffset(backend, masked),
    heapOffset(backend, bPack.t),
    0,
    Co,
    P,
    groups,
    Co * 4,
    Ci * 4,
    Number.NEGATIVE_INFINITY,
    Number.POSITIVE_INFINITY,
  );
  if (masked !== dy) free(backend, masked);
  bPack.release();
  return out;
}
