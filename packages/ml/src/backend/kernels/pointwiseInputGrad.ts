/**
 * The input gradient of a 1x1, stride-1 convolution whose output went through relu / relu6 (or
 * nothing), as one kernel: dx [P, Ci] = (dy masked by the activation's derivative) [P, Co] x W^T,
 * P = N*H*W pixels. For explanation (FusedConv's gradient); training keeps Conv2DBackpropInput.
 *
 * Two paths, by shape. The GEMM path packs the masked dy in 4-pixel blocks (the mask is applied
 * while packing: no pass of its own) and runs simdDot's packedGemm against W^T packed once per
 * filter (cachedFilter). Otherwise the activation gradient kernel and then Conv2DBackpropInput
 * (XNNPACK's 1x1 convolution with the transposed filter) run as they would without this kernel.
 *
 * Why by shape (a one-off probe of MobileNetV2 1.0's 1x1 layers at 128 and 224 px, XNNPACK and the
 * GEMM alternating in one process on the same tensors; root README "`pnpm bench ig`"): packedGemm's own
 * loop is 1.1-1.8x faster than XNNPACK on every layer once both operands are packed, but packing
 * dy is a JS loop over P x Co floats. That is paid back where each packed row meets many output
 * columns (Ci >= 2 Co: the projection layers, 1.0-1.5x) or where the map is small enough that
 * XNNPACK's own per-call cost dominates (P <= 640: 1.0-1.5x), and lost on the expansion layers of
 * large maps (0.6-0.9x), which keep XNNPACK.
 */

import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import type { SimdKernels } from "../simdDot.js";
import { reluGradConfig } from "./activationGrads.js";
import { conv2DBackpropInputConfig } from "./conv2dBackpropInput.js";
import { cachedFilter } from "./filterCache.js";
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

/** Which path runs: by shape ("auto"), or one of them for every shape (parity tests, probes). */
export type PointwiseGradPath = "auto" | "gemm" | "xnnpack";
let pathMode: PointwiseGradPath = "auto";

/** Sets the path for later calls and returns the previous setting. */
export function setPointwiseInputGradPath(mode: PointwiseGradPath): PointwiseGradPath {
  const previous = pathMode;
  pathMode = mode;
  return previous;
}

/** Most pixels for which the GEMM path runs whatever the channel counts (small maps). */
const SMALL_MAP_PIXELS = 640;
/** Most pixels for the projection-layer clause (beyond it dy's packing stops paying back). */
const PROJECTION_MAX_PIXELS = 16384;

/** Whether the GEMM path pays for P pixels, Co channels of dy and Ci of dx (measured, see top). */
export function pointwiseGemmPays(P: number, Co: number, Ci: number): boolean {
  return P <= SMALL_MAP_PIXELS || (Ci >= 2 * Co && P <= PROJECTION_MAX_PIXELS);
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
    const P = N * H * W;
    const simd = simdFor(backend);
    const gemm =
      simd !== null &&
      Ci % 4 === 0 &&
      dy.dtype === "float32" &&
      pathMode !== "xnnpack" &&
      (pathMode === "gemm" || pointwiseGemmPays(P, Co, Ci));
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
        simd.packedGemm,
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
  packedGemm: SimdKernels["packedGemm"],
): TensorInfo {
  // B = W^T [Co, Ci] packed as [Ci/8][Co][8], then [Co][4] when Ci/4 is odd (packedGemm's layout).
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
  const blocks = Math.ceil(P / 4);
  const full = P >> 2;
  const out = backend.makeOutput(inputShape, "float32");
  const aPack = backend.makeOutput([blocks * 4 * Co], "float32");
  // the last 4 rows of dx when P is not a multiple of 4 (packedGemm writes whole 4-row blocks)
  const tail = backend.makeOutput([4 * Ci], "float32");
  const g = f32(backend, dy);
  const m = y ? f32(backend, y) : null;
  const a = f32(backend, aPack);
  const top = hi ?? Number.POSITIVE_INFINITY;
  // dy (masked) as [blocks][Co][4]: 4 pixels interleaved, zeros past P.
  for (let blk = 0; blk < blocks; blk++) {
    const p0 = 4 * blk;
    let d = blk * Co * 4;
    if (p0 + 4 <= P) {
      const s0 = p0 * Co;
      const s1 = s0 + Co;
      const s2 = s1 + Co;
      const s3 = s2 + Co;
      if (m) {
        for (let k = 0; k < Co; k++, d += 4) {
          a[d] = maskOf(m[s0 + k] as number, g[s0 + k] as number, top);
          a[d + 1] = maskOf(m[s1 + k] as number, g[s1 + k] as number, top);
          a[d + 2] = maskOf(m[s2 + k] as number, g[s2 + k] as number, top);
          a[d + 3] = maskOf(m[s3 + k] as number, g[s3 + k] as number, top);
        }
      } else {
        for (let k = 0; k < Co; k++, d += 4) {
          a[d] = g[s0 + k] as number;
          a[d + 1] = g[s1 + k] as number;
          a[d + 2] = g[s2 + k] as number;
          a[d + 3] = g[s3 + k] as number;
        }
      }
    } else {
      for (let r = 0; r < 4; r++) {
        const s = (p0 + r) * Co;
        for (let k = 0; k < Co; k++) {
          const v = p0 + r < P ? (g[s + k] as number) : 0;
          a[d + k * 4 + r] = m && p0 + r < P ? maskOf(m[s + k] as number, v, top) : v;
        }
      }
    }
  }
  f32(backend, out).fill(0);
  f32(backend, tail).fill(0);
  const aOff = heapOffset(backend, aPack);
  const bOff = heapOffset(backend, bPack.t);
  if (full > 0) packedGemm(heapOffset(backend, out), aOff, bOff, Co, full, groups, Ci * 4);
  if (blocks > full) {
    packedGemm(heapOffset(backend, tail), aOff + full * Co * 16, bOff, Co, 1, groups, Ci * 4);
    f32(backend, out).set(f32(backend, tail).subarray(0, (P - full * 4) * Ci), full * 4 * Ci);
  }
  free(backend, aPack, tail);
  bPack.release();
  return out;
}

/** dy where 0 < y <= hi, NaN where y is NaN, else 0: the relu gradient kernel's values. */
function maskOf(y: number, dy: number, hi: number): number {
  return y > 0 && y <= hi ? dy : Number.isNaN(y) ? Number.NaN : 0;
}
