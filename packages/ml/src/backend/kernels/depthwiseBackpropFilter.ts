/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend, which ships none (tfjs#8474).
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { ChannelDot } from "../simdDot.js";
import { type ConvGeom, type ConvGradAttrs, filterGradGeometry } from "./convGeometry.js";
import { f32, free, heapOffset, simdFor, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

/**
 * Per tap this is a channel-wise dot product over every output position. The
 * arithmetic (N*Ho*Wo*Kh*Kw*C MACs) is a few % of the forward pointwise convs,
 * so one JS pass with float64 accumulators is fast enough and more accurate
 * than composing it from wasm slice + multiply + sum kernels (3 calls per tap,
 * each streaming the whole activation).
 */
function depthwiseBackpropFilterImpl(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
): TensorInfo {
  const { M } = g;
  const dot = M === 1 ? (simdFor(backend)?.channelDot ?? null) : null;
  return dot
    ? depthwiseBackpropFilterSimd(backend, x, dy, g, dot)
    : depthwiseBackpropFilterLoop(backend, x, dy, g);
}

/**
 * SIMD version for multiplier 1: for every (image, output row, tap) the
 * valid output columns form one strided run in x and one contiguous run in
 * dy, which the wasm kernel reduces per channel. Row sums (<= Wo terms, in
 * float32) are then accumulated in float64.
 */
function depthwiseBackpropFilterSimd(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
  dot: ChannelDot,
): TensorInfo {
  const { N, H, W, Ci: C, Ho, Wo, Kh, Kw, sh, sw, pt, pl } = g;
  const groups = C >> 2;
  const acc = new Float64Array(Kh * Kw * C);
  const out = backend.makeOutput([Kh, Kw, C, 1], "float32");
  const scratch = backend.makeOutput([Math.max(4, groups * 4)], "float32");
  const xOff = heapOffset(backend, x);
  const dyOff = heapOffset(backend, dy);
  const sOff = heapOffset(backend, scratch);
  const sv = f32(backend, scratch);
  const xs = f32(backend, x);
  const ds = f32(backend, dy);
  const ox0s: number[] = [];
  const ox1s: number[] = [];
  for (let kw = 0; kw < Kw; kw++) {
    // output columns whose input column ox*sw + kw - pl lies inside the image
    ox0s.push(Math.max(0, Math.ceil((pl - kw) / sw)));
    ox1s.push(Math.min(Wo, Math.floor((W - 1 + pl - kw) / sw) + 1));
  }
  const xStep = sw * C;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      const dyRow = (n * Ho + oy) * Wo * C;
      for (let kh = 0; kh < Kh; kh++) {
        const iy = oy * sh + kh - pt;
        if (iy < 0 || iy >= H) continue;
        const xRow = (n * H + iy) * W;
        for (let kw = 0; kw < Kw; kw++) {
          const ox0 = ox0s[kw] as number;
          const ox1 = ox1s[kw] as number;
          if (ox1 <= ox0) continue;
          const xi = (xRow + ox0 * sw + kw - pl) * C;
          const di = dyRow + ox0 * C;
          const ab = (kh * Kw + kw) * C;
          if (groups > 0) {
            dot(xOff + xi * 4, dyOff + di * 4, sOff, ox1 - ox0, groups, xStep * 4, C * 4);
            for (let c = 0; c < groups * 4; c++) acc[ab + c] = (acc[ab + c] as number) + (sv[c] as number);
          }
          for (let c = groups * 4; c < C; c++) {
            let sum = 0;
            for (let k = 0, a = xi + c, b = di + c; k < ox1 - ox0; k++, a += xStep, b += C) {
              sum += (xs[a] as number) * (ds[b] as number);
            }
            acc[ab + c] = (acc[ab + c] as number) + sum;
          }
        }
      }
    }
  }
  free(backend, scratch);
  f32(backend, out).set(acc);
  return out;
}

function depthwiseBackpropFilterLoop(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
): TensorInfo {
  const { N, H, W, Ci: C, Ho, Wo, Kh, Kw, sh, sw, pt, pl, M } = g;
  const CM = C * M;
  const acc = new Float64Array(Kh * Kw * CM);
  const out = backend.makeOutput([Kh, Kw, C, M], "float32");
  const xs = f32(backend, x);
  const ds = f32(backend, dy);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      const kh0 = Math.max(0, pt - oy * sh);
      const kh1 = Math.min(Kh, H + pt - oy * sh);
      for (let ox = 0; ox < Wo; ox++) {
        const kw0 = Math.max(0, pl - ox * sw);
        const kw1 = Math.min(Kw, W + pl - ox * sw);
        const db = ((n * Ho + oy) * Wo + ox) * CM;
        for (let kh = kh0; kh < kh1; kh++) {
          const rowBase = (n * H + oy * sh + kh - pt) * W;
          for (let kw = kw0; kw < kw1; kw++) {
            const xb = (rowBase + ox * sw + kw - pl) * C;
            const ab = (kh * Kw + kw) * CM;
            if (M === 1) {
              for (let c = 0; c < C; c++)
                acc[ab + c] = (acc[ab + c] as number) + (xs[xb + c] as number) * (ds[db + c] as number);
            } else {
              for (let c = 0; c < C; c++) {
                const xv = xs[xb + c] as number;
                for (let m = 0; m < M; m++) {
                  const i = c * M + m;
                  acc[ab + i] = (acc[ab + i] as number) + xv * (ds[db + i] as number);
                }
              }
            }
          }
        }
      }
    }
  }
  f32(backend, out).set(acc);
  return out;
}

export const depthwiseBackpropFilterConfig = wasmKernel<"x" | "dy", ConvGradAttrs>(
  "DepthwiseConv2dNativeBackpropFilter",
  ["x", "dy"],
  ({ inputs: { x, dy }, attrs, backend }) =>
    depthwiseBackpropFilterImpl(
      backend,
      x,
      dy,
      filterGradGeometry("DepthwiseConv2dNativeBackpropFilter", x, dy, attrs, true),
    ),
);
