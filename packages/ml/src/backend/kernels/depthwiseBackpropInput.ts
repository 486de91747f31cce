/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend, which ships none (tfjs#8474): a SIMD
 * scatter for multiplier 1, the phase decomposition of conv2dBackpropInput.ts where wasm SIMD is
 * missing, and a JS gather loop for multipliers > 1.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { ChannelDot } from "../simdDot.js";
import { backpropInputByPhases } from "./conv2dBackpropInput.js";
import { type ConvGeom, type ConvGradAttrs, inputGradGeometry } from "./convGeometry.js";
import { f32, heapOffset, simdFor, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

/**
 * Scatter form: every dy row, scaled per channel by one tap, is added onto
 * the dx row it came from. Only real taps are visited, unlike the phase
 * decomposition whose phase kernels must be zero-padded to 3x3 for XNNPACK.
 * Measured best-of-5 against the phase version (batch 16): 64x64x96 s2
 * 16 vs 110 ms, 32x32x144 s2 6 vs 33 ms, 64x64x32 s1 16 vs 19 ms,
 * 16x16x192 s1 2.3 vs 4.4 ms. The phase version stays as the fallback for
 * runtimes without wasm SIMD.
 */
function depthwiseBackpropInputSimd(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeom,
  axpy: ChannelDot,
): TensorInfo {
  const { N, H, W, Ci: C, Ho, Wo, Kh, Kw, sh, sw, pt, pl } = g;
  const groups = C >> 2;
  const out = backend.makeOutput([N, H, W, C], "float32");
  const o = f32(backend, out);
  // dx is zeroed row by row just before the first output row that adds into it (then the adds find
  // the rows in cache), not in one pass over all of it beforehand: the same zeros, the same sums.
  // (MobileNetV2's depthwise input gradients at 224 px, batch 9: 1.22x summed, measured alternating.)
  const rowFloats = W * C;
  const ds = f32(backend, dy);
  const ws = f32(backend, filter);
  const outOff = heapOffset(backend, out);
  const dyOff = heapOffset(backend, dy);
  const wOff = heapOffset(backend, filter);
  const ox0s: number[] = [];
  const ox1s: number[] = [];
  for (let kw = 0; kw < Kw; kw++) {
    ox0s.push(Math.max(0, Math.ceil((pl - kw) / sw)));
    ox1s.push(Math.min(Wo, Math.floor((W - 1 + pl - kw) / sw) + 1));
  }
  const xStep = sw * C;
  for (let n = 0; n < N; n++) {
    let zeroed = 0; // rows [0, zeroed) of image n are zeroed
    const zeroRows = (to: number) => {
      if (to > zeroed) o.fill(0, (n * H + zeroed) * rowFloats, (n * H + to) * rowFloats);
      zeroed = Math.max(zeroed, to);
    };
    for (let oy = 0; oy < Ho; oy++) {
      // the rows this output row adds into end at oy * sh + Kh - pt
      zeroRows(Math.max(0, Math.min(H, oy * sh + Kh - pt)));
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
          const wi = (kh * Kw + kw) * C;
          if (groups > 0)
            axpy(outOff + xi * 4, dyOff + di * 4, wOff + wi * 4, ox1 - ox0, groups, xStep * 4, C * 4);
          for (let c = groups * 4; c < C; c++) {
            const wv = ws[wi + c] as number;
            for (let k = 0, a = xi + c, b = di + c; k < ox1 - ox0; k++, a += xStep, b += C) {
              o[a] = (o[a] as number) + (ds[b] as number) * wv;
            }
          }
        }
      }
    }
    zeroRows(H); // rows no output row reaches ('valid' with stride > kernel)
  }
  return out;
}

/** Gather form for multiplier > 1, which XNNPACK's depthwise conv cannot reduce over. */
function depthwiseBackpropInputLoop(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeom,
): TensorInfo {
  const { N, H, W, Ci: C, Ho, Wo, Kh, Kw, sh, sw, pt, pl, M } = g;
  const CM = C * M;
  const out = backend.makeOutput([N, H, W, C], "float32");
  const o = f32(backend, out);
  const ds = f32(backend, dy);
  const ws = f32(backend, filter);
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        acc.fill(0);
        for (let kh = 0; kh < Kh; kh++) {
          const ty = y + pt - kh;
          if (ty < 0 || ty % sh !== 0) continue;
          const oy = ty / sh;
          if (oy >= Ho) continue;
          for (let kw = 0; kw < Kw; kw++) {
            const tx = x + pl - kw;
            if (tx < 0 || tx % sw !== 0) continue;
            const ox = tx / sw;
            if (ox >= Wo) continue;
            const db = ((n * Ho + oy) * Wo + ox) * CM;
            const wb = (kh * Kw + kw) * CM;
            for (let c = 0; c < C; c++) {
              let s = 0;
              for (let m = 0; m < M; m++)
                s += (ds[db + c * M + m] as number) * (ws[wb + c * M + m] as number);
              acc[c] = (acc[c] as number) + s;
            }
          }
        }
        o.set(acc, ((n * H + y) * W + x) * C);
      }
    }
  }
  return out;
}

export const depthwiseBackpropInputConfig = wasmKernel<"dy" | "filter", ConvGradAttrs>(
  "DepthwiseConv2dNativeBackpropInput",
  ["dy", "filter"],
  ({ inputs: { dy, filter }, attrs, backend }) => {
    const g = inputGradGeometry("DepthwiseConv2dNativeBackpropInput", dy, filter, attrs, true);
    if (g.M !== 1) return depthwiseBackpropInputLoop(backend, dy, filter, g);
    const axpy = simdFor(backend)?.channelAxpy;
    return axpy
      ? depthwiseBackpropInputSimd(backend, dy, filter, g, axpy)
      : backpropInputByPhases(backend, dy, filter, g, true);
  },
);
