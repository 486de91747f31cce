/**
 * Conv2DBackpropFilter for the wasm backend, which ships none (tfjs#8474). Which path runs depends
 * on the shape, by thresholds measured on this machine: the SIMD rank-1 kernel (simdDot.ts) for
 * small channel blocks, a GEMM for 1x1 filters, the SIMD packed GEMM for larger channel blocks
 * (channels multiples of 4), im2col + GEMM for few patch rows, and otherwise one XNNPACK
 * convolution ("the convolution trick").
 *
 * XNNPACK re-packs the weight operand of every fresh tensor (a [24,16384]x[16384,144] matmul:
 * 162 ms with a fresh B, 22 ms with a cached one, on a loaded machine), which is why filter
 * gradients with small channel blocks use the SIMD rank-1 kernel instead of a GEMM or conv.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { simdKernelsFor } from "../simdDot.js";
import {
  type ConvGeom,
  type ConvGradAttrs,
  conv2dValidPadded,
  filterGradGeometry,
  tapPixels,
  transposeNAC,
} from "./convGeometry.js";
import { wasmKernelOptions } from "./options.js";
import { f32, free, heapOffset, run, simdFor, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

/**
 * Up to this many filter elements the rank-1-update kernel's accumulator
 * block stays cache-resident and it beats the GEMM, whose cost here is not
 * arithmetic but transposing one operand in JS and XNNPACK packing the other,
 * which happens on every call in training because the operands are fresh
 * tensors (measured 48 vs 304 ms for 16x32x32x24 -> 144, 38 vs 407 ms for
 * 16x64x64x16 -> 96; the GEMM wins only for 4x4x960 -> 160 and ties at
 * 4x4x320 -> 1280, both above this limit).
 */
const OUTER_MAX_ELEMS = 65536;
/**
 * For KxK filters the alternative (the convolution trick) packs only dy,
 * so the rank-1 kernel wins only while one tap's [Ci, Co] block fits in L1
 * (measured, fresh tensors, batch 16: 128x128x3->32 s2 44 vs 164 ms,
 * 64x64x32->32 s1 614 vs 798, 16x16x64->64 86 vs 150, but 8x8x128->128
 * 164 vs 129 ms). Against the packed GEMM (conv2dBackpropFilterGemm) it still won on big maps
 * with few channels (batch 32, loaded machine: 16x16x64->64 44 vs 67 ms, 32x32x32->32 45 vs 87).
 */
const KXK_OUTER_MAX_ELEMS = 8192;
const OUTER_CHUNK_PIXELS = 512;
/**
 * Pixels per packed-GEMM pass (conv2dBackpropFilterGemm): the packed dy block (pixels x Co) stays
 * in L2 and a 4-row x panel (pixels x 16 bytes) in L1; dW accumulates across passes in float32.
 */
const GEMM_CHUNK_PIXELS = 512;

/**
 * 1x1 filter gradient dW = x^T dy with both operands read in place. Pixels
 * are processed in chunks whose float32 partial sums are accumulated in
 * float64, bounding the rounding error of very long reductions.
 */
function pointwiseFilterSimd(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  P: number,
  Ci: number,
  Co: number,
  outerAcc: NonNullable<ReturnType<typeof simdKernelsFor>>["outerAcc"],
): TensorInfo {
  const groups = Co >> 2;
  const G4 = groups * 4;
  const out = backend.makeOutput([1, 1, Ci, Co], "float32");
  const scratch = backend.makeOutput([Math.max(4, Ci * G4)], "float32");
  const xOff = heapOffset(backend, x);
  const dyOff = heapOffset(backend, dy);
  const sOff = heapOffset(backend, scratch);
  const xs = f32(backend, x);
  const ds = f32(backend, dy);
  const sv = f32(backend, scratch);
  const acc = new Float64Array(Ci * Co);
  for (let p0 = 0; p0 < P; p0 += OUTER_CHUNK_PIXELS) {
    const n = Math.min(OUTER_CHUNK_PIXELS, P - p0);
    if (groups > 0) {
      sv.fill(0);
      outerAcc(sOff, xOff + p0 * Ci * 4, dyOff + p0 * Co * 4, n, Ci, groups, Ci * 4, Co * 4);
      for (let i = 0; i < Ci; i++) {
        const a = i * Co;
        const b = i * G4;
        for (let g = 0; g < G4; g++) acc[a + g] = (acc[a + g] as number) + (sv[b + g] as number);
      }
    }
    for (let co = G4; co < Co; co++) {
      for (let i = 0; i < Ci; i++) {
        let t = 0;
        for (let p = p0; p < p0 + n; p++) t += (xs[p * Ci + i] as number) * (ds[p * Co + co] as number);
        acc[i * Co + co] = (acc[i * Co + co] as number) + t;
      }
    }
  }
  free(backend, scratch);
  f32(backend, out).set(acc);
  return out;
}

/**
 * KxK filter gradient with the rank-1 kernel: for every (image, output row,
 * tap) the valid output columns are one strided run of x and one contiguous
 * run of dy, accumulated into that tap's [Ci, Co] block. Per-image float32
 * partial sums are added up in float64.
 */
function conv2dBackpropFilterSimd(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
  outerAcc: NonNullable<ReturnType<typeof simdKernelsFor>>["outerAcc"],
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw, sh, sw, pt, pl } = g;
  const groups = Co >> 2;
  const G4 = groups * 4;
  const KK = Kh * Kw;
  const out = backend.makeOutput([Kh, Kw, Ci, Co], "float32");
  const scratch = backend.makeOutput([Math.max(4, KK * Ci * G4)], "float32");
  const xOff = heapOffset(backend, x);
  const dyOff = heapOffset(backend, dy);
  const sOff = heapOffset(backend, scratch);
  const xs = f32(backend, x);
  const ds = f32(backend, dy);
  const sv = f32(backend, scratch);
  const acc = new Float64Array(KK * Ci * Co);
  const ox0s: number[] = [];
  const ox1s: number[] = [];
  for (let kw = 0; kw < Kw; kw++) {
    ox0s.push(Math.max(0, Math.ceil((pl - kw) / sw)));
    ox1s.push(Math.min(Wo, Math.floor((W - 1 + pl - kw) / sw) + 1));
  }
  const xStep = sw * Ci;
  for (let n = 0; n < N; n++) {
    if (groups > 0) sv.fill(0);
    for (let oy = 0; oy < Ho; oy++) {
      const dyRow = (n * Ho + oy) * Wo * Co;
      for (let kh = 0; kh < Kh; kh++) {
        const iy = oy * sh + kh - pt;
        if (iy < 0 || iy >= H) continue;
        const xRow = (n * H + iy) * W;
        for (let kw = 0; kw < Kw; kw++) {
          const ox0 = ox0s[kw] as number;
          const ox1 = ox1s[kw] as number;
          if (ox1 <= ox0) continue;
          const t = kh * Kw + kw;
          const xi = (xRow + ox0 * sw + kw - pl) * Ci;
          const di = dyRow + ox0 * Co;
          if (groups > 0)
            outerAcc(
              sOff + t * Ci * G4 * 4,
              xOff + xi * 4,
              dyOff + di * 4,
              ox1 - ox0,
              Ci,
              groups,
              xStep * 4,
              Co * 4,
            );
          for (let co = G4; co < Co; co++) {
            for (let i = 0; i < Ci; i++) {
              let sum = 0;
              for (let k = 0, a = xi + i, b = di + co; k < ox1 - ox0; k++, a += xStep, b += Co) {
                sum += (xs[a] as number) * (ds[b] as number);
              }
              const j = (t * Ci + i) * Co + co;
              acc[j] = (acc[j] as number) + sum;
            }
          }
        }
      }
    }
    if (groups > 0) {
      for (let r = 0; r < KK * Ci; r++) {
        const a = r * Co;
        const b = r * G4;
        for (let c = 0; c < G4; c++) acc[a + c] = (acc[a + c] as number) + (sv[b + c] as number);
      }
    }
  }
  free(backend, scratch);
  f32(backend, out).set(acc);
  return out;
}

/**
 * KxK filter gradient as GEMMs on the SIMD packedGemm: per pixel chunk and tap,
 * dW[t] [Ci, Co] += x_t^T dy over the pixels whose tap reads inside x (a 2x2 map with a 3x3
 * 'same' filter has 4 of 9 taps in the padding; they are skipped, not multiplied by zeros). x_t
 * is packed straight from x, 4 channels interleaved, and dy in column blocks of 8 (once per chunk
 * for taps that see every pixel), so no operand is transposed and XNNPACK packs nothing. For the
 * small maps of deep layers (ResNet-18 layer3/4 at 64 px: 4x4x256 and 2x2x512, so only 128-512
 * pixels per batch) the convolution trick and im2col + BatchMatMul both ran at a third of the
 * forward convolution's rate or less; see the README table. Needs Ci and Co multiples of 4.
 */
function conv2dBackpropFilterGemm(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
  packedGemm: NonNullable<ReturnType<typeof simdKernelsFor>>["packedGemm"],
): TensorInfo {
  const { N, Ci, Ho, Wo, Co, Kh, Kw } = g;
  const P = N * Ho * Wo;
  const CB = Ci >> 2;
  const groups = Co >> 2;
  const pairs = groups >> 1;
  const chunk = Math.min(P, GEMM_CHUNK_PIXELS);
  const out = backend.makeOutput([Kh, Kw, Ci, Co], "float32");
  const aPack = backend.makeOutput([Ci * chunk], "float32");
  // [0, chunk*Co): dy of every pixel of the chunk; then dy of one tap's pixels
  const bPack = backend.makeOutput([2 * chunk * Co], "float32");
  const outOff = heapOffset(backend, out);
  const aOff = heapOffset(backend, aPack);
  const bOff = heapOffset(backend, bPack);
  const xs = f32(backend, x);
  const ds = f32(backend, dy);
  const as = f32(backend, aPack);
  const bs = f32(backend, bPack);
  f32(backend, out).fill(0);
  const xAt = new Int32Array(chunk);
  const dyAt = new Int32Array(chunk);
  /** dy rows dyAt[0..n) -> [pairs][n][8], then [n][4] for an odd group, from bs[base] */
  const packDy = (base: number, n: number) => {
    let o = base;
    for (let q = 0; q < pairs; q++) {
      for (let j = 0; j < n; j++, o += 8) {
        const s = (dyAt[j] as number) + q * 8;
        for (let k = 0; k < 8; k++) bs[o + k] = ds[s + k] as number;
      }
    }
    if (groups & 1) {
      for (let j = 0; j < n; j++, o += 4) {
        const s = (dyAt[j] as number) + pairs * 8;
        for (let k = 0; k < 4; k++) bs[o + k] = ds[s + k] as number;
      }
    }
  };
  for (let p0 = 0; p0 < P; p0 += chunk) {
    const n = Math.min(chunk, P - p0);
    let fullPacked = false;
    for (let kh = 0; kh < Kh; kh++) {
      for (let kw = 0; kw < Kw; kw++) {
        const nv = tapPixels(g, p0, n, kh, kw, xAt, dyAt);
        if (nv === 0) continue;
        // x_t rows -> [CB][nv][4]
        const panel = nv * 4;
        for (let j = 0; j < nv; j++) {
          for (let s = xAt[j] as number, e = s + Ci, d = j * 4; s < e; s += 4, d += panel) {
            as[d] = xs[s] as number;
            as[d + 1] = xs[s + 1] as number;
            as[d + 2] = xs[s + 2] as number;
            as[d + 3] = xs[s + 3] as number;
          }
        }
        let bBase = chunk * Co;
        if (nv === n) {
          if (!fullPacked) packDy(0, n);
          fullPacked = true;
          bBase = 0;
        } else {
          packDy(bBase, nv);
        }
        const t = kh * Kw + kw;
        packedGemm(outOff + t * Ci * Co * 4, aOff, bOff + bBase * 4, nv, CB, groups, Co * 4);
      }
    }
  }
  free(backend, aPack, bPack);
  return out;
}

/**
 * dW = colsT [Kh*Kw*Ci, P] x dy [P, Co]: the GEMM's result is already in
 * filter layout, and the packed operand is dy, not the larger im2col matrix.
 */
function conv2dBackpropFilterIm2col(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw, sh, sw, pt, pl } = g;
  const P = N * Ho * Wo;
  const colsT = backend.makeOutput([Kh * Kw * Ci, P], "float32");
  const xs = f32(backend, x);
  const cs = f32(backend, colsT);
  for (let kh = 0; kh < Kh; kh++) {
    for (let kw = 0; kw < Kw; kw++) {
      const ox0 = Math.max(0, Math.ceil((pl - kw) / sw));
      const ox1 = Math.min(Wo, Math.floor((W - 1 + pl - kw) / sw) + 1);
      for (let ci = 0; ci < Ci; ci++) {
        let d = ((kh * Kw + kw) * Ci + ci) * P;
        for (let n = 0; n < N; n++) {
          for (let oy = 0; oy < Ho; oy++, d += Wo) {
            const iy = oy * sh + kh - pt;
            if (iy < 0 || iy >= H || ox1 <= ox0) {
              cs.fill(0, d, d + Wo);
              continue;
            }
            if (ox0 > 0) cs.fill(0, d, d + ox0);
            if (ox1 < Wo) cs.fill(0, d + ox1, d + Wo);
            let src = ((n * H + iy) * W + ox0 * sw + kw - pl) * Ci + ci;
            const step = sw * Ci;
            for (let ox = ox0; ox < ox1; ox++, src += step) cs[d + ox] = xs[src] as number;
          }
        }
      }
    }
  }
  const dy2 = run("Reshape", backend, { x: dy }, { shape: [P, Co] });
  const r = run("BatchMatMul", backend, { a: colsT, b: dy2 }, { transposeA: false, transposeB: false });
  free(backend, colsT, dy2);
  const out = run("Reshape", backend, { x: r }, { shape: [Kh, Kw, Ci, Co] });
  free(backend, r);
  return out;
}

/**
 * dW[kh,kw,ci,co] = sum over (n,oy,ox) of x[n, oy*s+kh-p, ox*s+kw-p, ci] * dy[n,oy,ox,co].
 * Read with ci as the batch axis, n as the channel axis and dy as a
 * (dilation = stride) filter, that is a single XNNPACK convolution whose
 * output [Ci, Kh, Kw, Co] is dW up to a cheap axis swap - no im2col buffer.
 * 1x1 stride-1 unpadded convolutions are a plain GEMM instead.
 */
function conv2dBackpropFilterImpl(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeom,
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw, sh, sw, pt, pl } = g;

  if (Kh === 1 && Kw === 1 && sh === 1 && sw === 1 && pt === 0 && pl === 0 && Ho === H && Wo === W) {
    const P = N * H * W;
    const simd = simdFor(backend);
    if (simd && Ci * Co <= OUTER_MAX_ELEMS)
      return pointwiseFilterSimd(backend, x, dy, P, Ci, Co, simd.outerAcc);
    // Transpose whichever operand is narrower; the GEMM then runs un-transposed.
    if (Ci <= Co) {
      const xT = backend.makeOutput([Ci, P], "float32");
      transposeNAC(f32(backend, x), f32(backend, xT), 1, P, Ci);
      const dy2 = run("Reshape", backend, { x: dy }, { shape: [P, Co] });
      const r = run("BatchMatMul", backend, { a: xT, b: dy2 }, { transposeA: false, transposeB: false });
      free(backend, xT, dy2);
      const out = run("Reshape", backend, { x: r }, { shape: [1, 1, Ci, Co] });
      free(backend, r);
      return out;
    }
    const dyT = backend.makeOutput([Co, P], "float32");
    transposeNAC(f32(backend, dy), f32(backend, dyT), 1, P, Co);
    const x2 = run("Reshape", backend, { x }, { shape: [P, Ci] });
    const r = run("BatchMatMul", backend, { a: dyT, b: x2 }, { transposeA: false, transposeB: false });
    free(backend, dyT, x2);
    const out = backend.makeOutput([1, 1, Ci, Co], "float32");
    transposeNAC(f32(backend, r), f32(backend, out), 1, Co, Ci);
    free(backend, r);
    return out;
  }

  const simdK = simdFor(backend);
  if (simdK && Ci * Co <= KXK_OUTER_MAX_ELEMS)
    return conv2dBackpropFilterSimd(backend, x, dy, g, simdK.outerAcc);
  if (simdK && Ci % 4 === 0 && Co % 4 === 0)
    return conv2dBackpropFilterGemm(backend, x, dy, g, simdK.packedGemm);
  if (Kh * Kw * Ci <= wasmKernelOptions.filterIm2colMaxRows)
    return conv2dBackpropFilterIm2col(backend, x, dy, g);

  // Only input rows/cols some output actually reads; a 'valid' strided conv
  // may skip trailing ones, and explicit padding cannot be negative.
  const Hc = Math.min(H, (Ho - 1) * sh + Kh - pt);
  const Wc = Math.min(W, (Wo - 1) * sw + Kw - pl);
  const padB = (Ho - 1) * sh + Kh - pt - Hc;
  const padR = (Wo - 1) * sw + Kw - pl - Wc;

  const xT = backend.makeOutput([Ci, Hc, Wc, N], "float32");
  const dyT = backend.makeOutput([Ho, Wo, N, Co], "float32");
  {
    const xs = f32(backend, x);
    const xd = f32(backend, xT);
    // x[n, h, w, ci] -> xT[ci, h, w, n], cropping to Hc x Wc. Pixel-outer
    // order keeps the Ci destination cache lines of one pixel hot while all
    // N images fill them (n-outer order measured ~2x slower).
    const HWN = Hc * Wc * N;
    const imgStride = H * W * Ci;
    for (let h = 0; h < Hc; h++) {
      for (let w = 0; w < Wc; w++) {
        const s0 = (h * W + w) * Ci;
        const d0 = (h * Wc + w) * N;
        for (let n = 0; n < N; n++) {
          const s = s0 + n * imgStride;
          let d = d0 + n;
          for (let c = 0; c < Ci; c++, d += HWN) xd[d] = xs[s + c] as number;
        }
      }
    }
    // dy[n, oy, ox, co] -> dyT[oy, ox, n, co]: moves whole channel rows.
    const ds = f32(backend, dy);
    const dd = f32(backend, dyT);
    const HoWo = Ho * Wo;
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < HoWo; p++) {
        const s = (n * HoWo + p) * Co;
        dd.set(ds.subarray(s, s + Co), (p * N + n) * Co);
      }
    }
  }
  const z = conv2dValidPadded(backend, xT, dyT, [pt, padB, pl, padR], [sh, sw]);
  free(backend, xT, dyT);
  // z is [Ci, Kh, Kw, Co] -> dW [Kh, Kw, Ci, Co]
  const out = backend.makeOutput([Kh, Kw, Ci, Co], "float32");
  const zs = f32(backend, z);
  const o = f32(backend, out);
  const KK = Kh * Kw;
  for (let ci = 0; ci < Ci; ci++) {
    for (let t = 0; t < KK; t++) {
      const s = (ci * KK + t) * Co;
      o.set(zs.subarray(s, s + Co), (t * Ci + ci) * Co);
    }
  }
  free(backend, z);
  return out;
}

export const conv2DBackpropFilterConfig = wasmKernel<"x" | "dy", ConvGradAttrs>(
  "Conv2DBackpropFilter",
  ["x", "dy"],
  ({ inputs: { x, dy }, attrs, backend }) =>
    conv2dBackpropFilterImpl(backend, x, dy, filterGradGeometry("Conv2DBackpropFilter", x, dy, attrs, false)),
);
