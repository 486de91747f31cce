/**
 * FusedConv2D (convolution + bias + activation) for the wasm backend: 1x1 stride-1 convolutions run
 * as one SIMD rowGemm on the activation in place (XNNPACK's values bit for bit, 1.16x faster summed
 * over MobileNetV2 1.0's 1x1 layers at 224 px, batch 9: see conv1x1RowGemm); many-channel KxK
 * convolutions of small maps run as one SIMD packedGemm per (filter tap, output position) on packed
 * operands; every other call goes to the shipped XNNPACK kernel.
 *
 * XNNPACK computes a 3x3 'same' convolution of a 2x2 map over all 9 taps (5 of them read the zero
 * padding) and tiles the few output pixels per image poorly; this path multiplies only the taps that
 * land inside the map, with the batch as the GEMM's rows: for output position (oy, ox) and tap
 * (kh, kw) the N images' input pixels at (oy*sh + kh - pt, ox*sw + kw - pl) times that tap's
 * [Ci, Co] block, added into the N output rows of that position. x is packed once per call (per
 * input pixel, 4 images interleaved, which is the layout packedGemm reads its A operand in), the
 * filter once per tap (kept per filter by cachedFilter, which hits in inference).
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { SimdKernels } from "../simdDot.js";
import { type ConvGeom, type ConvGradAttrs, forwardGeometry } from "./convGeometry.js";
import { cachedFilter } from "./filterCache.js";
import { wasmKernelOptions } from "./options.js";
import {
  callShipped,
  f32,
  free,
  heapOffset,
  simdFor,
  type WasmBackendLike,
  wasmKernel,
} from "./wasmKernel.js";

/** Bytes of packed filter columns one pass over the output positions reads (see conv2dTapGemm). */
const COLUMN_BLOCK_BYTES = 128 * 1024;

interface FusedConvAttrs extends ConvGradAttrs {
  activation?: string;
  leakyreluAlpha?: number;
}

/** The activations this path applies itself: the clamp bounds. */
export const CLAMPS: Record<string, [number, number]> = {
  linear: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  relu: [0, Number.POSITIVE_INFINITY],
  relu6: [0, 6],
};

/**
 * Whether the tap GEMM takes this convolution: a KxK filter (K > 1), channels multiples of 4 and
 * many of them, and an output map of at most `forwardGemmMaxMap` pixels. 1x1 convolutions do not
 * come here: stride 1 is one plain GEMM (conv1x1RowGemm), and the strided ResNet shortcuts measured
 * slower on this path (`pnpm bench kernels --resnet --compare forward`: 8x8x128->256 s2 4.1 vs 2.7 ms,
 * 4x4x256->512 s2 2.9 vs 2.6). MobileNetV2's full convolutions are its 1x1 ones and a stem with 3
 * input channels, so none of them come here.
 */
export function useForwardGemm(g: ConvGeom): boolean {
  if (g.Kh * g.Kw === 1) return false;
  return (
    g.Ci % 4 === 0 &&
    g.Co % 4 === 0 &&
    g.Ci * g.Co > 8192 &&
    g.Ho * g.Wo <= wasmKernelOptions.forwardGemmMaxMap
  );
}

/**
 * y = act(conv(x, filter) + bias) as one packedGemm per (tap, output position); see the top of this
 * file. Also the stride-1 input gradient's convolution of dy with the flipped filter
 * (conv2dBackpropInput.ts). Needs Ci and Co multiples of 4.
 */
export function conv2dTapGemm(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | undefined,
  clamp: [number, number],
  g: ConvGeom,
  packedGemm: SimdKernels["packedGemm"],
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw, sh, sw, pt, pl } = g;
  const mBlocks = Math.ceil(N / 4);
  const Np = mBlocks * 4;
  const groups = Co >> 2;
  const pairs = groups >> 1;
  const KK = Kh * Kw;
  const bPack = packedTapFilter(backend, filter, KK, Ci, Co);
  // x as [H*W][Np/4][Ci][4] (images past N are zeros), y accumulated as [Ho*Wo][Np][Co]
  const xPack = backend.makeOutput([H * W * Np * Ci], "float32");
  const yAcc = backend.makeOutput([Ho * Wo * Np * Co], "float32");
  const out = backend.makeOutput([N, Ho, Wo, Co], "float32");
  const xs = f32(backend, x);
  const xp = f32(backend, xPack);
  const ya = f32(backend, yAcc);
  if (Np > N) xp.fill(0);
  ya.fill(0);
  const HW = H * W;
  for (let n = 0; n < N; n++) {
    const lane = n & 3;
    for (let pix = 0; pix < HW; pix++) {
      const s = (n * HW + pix) * Ci;
      let d = (pix * mBlocks + (n >> 2)) * Ci * 4 + lane;
      for (let ci = 0; ci < Ci; ci++, d += 4) xp[d] = xs[s + ci] as number;
    }
  }
  const xOff = heapOffset(backend, xPack);
  const yOff = heapOffset(backend, yAcc);
  const bOff = heapOffset(backend, bPack.t);
  // Column blocks of one tap's packed filter (pairs of groups, contiguous) small enough to stay in
  // L2 while every output position reads them; the odd group, if any, rides with the last block.
  const blockPairs = Math.max(1, Math.floor(COLUMN_BLOCK_BYTES / (Ci * 32)));
  for (let kh = 0; kh < Kh; kh++) {
    for (let kw = 0; kw < Kw; kw++) {
      const wAt = bOff + (kh * Kw + kw) * Ci * Co * 4;
      for (let p0 = 0; p0 < pairs || (p0 === 0 && groups > 0); p0 += blockPairs) {
        const last = p0 + blockPairs >= pairs;
        const nGroups = last ? groups - 2 * p0 : 2 * blockPairs;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * sh + kh - pt;
          if (iy < 0 || iy >= H) continue;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * sw + kw - pl;
            if (ix < 0 || ix >= W) continue;
            const pos = oy * Wo + ox;
            const xAt = xOff + (iy * W + ix) * Np * Ci * 4;
            const dst = yOff + (pos * Np * Co + p0 * 8) * 4;
            packedGemm(dst, xAt, wAt + p0 * Ci * 32, Ci, mBlocks, nGroups, Co * 4);
          }
        }
        if (last) break;
      }
    }
  }
  const y = f32(backend, out);
  const bv = bias ? f32(backend, bias) : null;
  const [lo, hi] = clamp;
  const HoWo = Ho * Wo;
  for (let pos = 0; pos < HoWo; pos++) {
    for (let n = 0; n < N; n++) {
      const s = (pos * Np + n) * Co;
      const d = (n * HoWo + pos) * Co;
      for (let co = 0; co < Co; co++) {
        let v = (ya[s + co] as number) + (bv ? (bv[co] as number) : 0);
        if (v < lo) v = lo;
        else if (v > hi) v = hi;
        y[d + co] = v;
      }
    }
  }
  free(backend, xPack, yAcc);
  bPack.release();
  return out;
}

/**
 * The filter W [Kh, Kw, Ci, Co] as, per tap, [Co/8][Ci][8] then [Ci][4] if Co/4 is odd (packedGemm's
 * and rowGemm's B), kept per filter by cachedFilter.
 */
function packedTapFilter(
  backend: WasmBackendLike,
  filter: TensorInfo,
  KK: number,
  Ci: number,
  Co: number,
): { t: TensorInfo; release: () => void } {
  const groups = Co >> 2;
  const pairs = groups >> 1;
  const packW = (): TensorInfo => {
    const t = backend.makeOutput([KK * Ci * Co], "float32");
    const ws = f32(backend, filter);
    const bs = f32(backend, t);
    for (let tap = 0; tap < KK; tap++) {
      const base = tap * Ci * Co;
      let d = base;
      for (let q = 0; q < groups; q += 2) {
        const w = q < 2 * pairs ? 8 : 4;
        for (let ci = 0; ci < Ci; ci++) {
          const s = base + ci * Co + q * 4;
          for (let c = 0; c < w; c++) bs[d++] = ws[s + c] as number;
        }
      }
    }
    return t;
  };
  return cachedFilter(backend, filter, "fwd:tap8", packW);
}

/**
 * y = act(x W + bias) for a 1x1 stride-1 convolution as one rowGemm over the N*H*W pixels: x is read
 * in place (no packing), the filter packed once per filter. The same bits as XNNPACK's (see
 * rowGemmBody). Needs Co a multiple of 4.
 */
export function conv1x1RowGemm(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | undefined,
  clamp: [number, number],
  rowGemm: SimdKernels["rowGemm"],
): TensorInfo {
  const [N, H, W, Ci] = x.shape as [number, number, number, number];
  const Co = filter.shape[3] as number;
  const P = N * H * W;
  const bPack = packedTapFilter(backend, filter, 1, Ci, Co);
  const out = backend.makeOutput([N, H, W, Co], "float32");
  rowGemm(
    heapOffset(backend, out),
    heapOffset(backend, x),
    heapOffset(backend, bPack.t),
    bias ? heapOffset(backend, bias) : 0,
    Ci,
    P,
    Co >> 2,
    Ci * 4,
    Co * 4,
    clamp[0],
    clamp[1],
  );
  bPack.release();
  return out;
}

export const fusedConv2DConfig = wasmKernel<"x" | "filter", FusedConvAttrs>(
  "FusedConv2D",
  ["x", "filter"],
  ({ inputs: { x, filter }, attrs, backend, args }) => {
    const bias = args.inputs.bias;
    const clamp = CLAMPS[attrs.activation ?? "linear"];
    const simd = simdFor(backend);
    if (
      simd &&
      clamp &&
      !args.inputs.preluActivationWeights &&
      (!bias || (bias.shape.length === 1 && bias.shape[0] === filter.shape[3])) &&
      x.dtype === "float32" &&
      filter.dtype === "float32"
    ) {
      const g = forwardGeometry("FusedConv2D", x, filter, attrs, false);
      if (useForwardGemm(g)) return conv2dTapGemm(backend, x, filter, bias, clamp, g, simd.packedGemm);
      if (
        g.Kh === 1 &&
        g.Kw === 1 &&
        g.sh === 1 &&
        g.sw === 1 &&
        g.pt === 0 &&
        g.pl === 0 &&
        g.Ho === g.H &&
        g.Wo === g.W &&
        g.Co % 4 === 0 &&
        wasmKernelOptions.pointwiseForwardGemm
      )
        return conv1x1RowGemm(backend, x, filter, bias, clamp, simd.rowGemm);
    }
    return callShipped("FusedConv2D", args);
  },
);
