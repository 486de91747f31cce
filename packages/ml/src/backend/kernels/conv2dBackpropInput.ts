/**
 * Conv2DBackpropInput for the wasm backend. The shipped kernel is a scalar C++ loop; this one keeps
 * the arithmetic in XNNPACK (phase decomposition, also used by the depthwise fallback) or, for few
 * input channels, one GEMM plus a JS scatter (col2im), or, for many channels on small maps, the
 * SIMD packed GEMM per tap plus the same scatter.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { simdKernelsFor } from "../simdDot.js";
import {
  type ConvGeom,
  type ConvGradAttrs,
  conv2dValidPadded,
  depthwisePadded,
  IM2COL_MAX_ROWS,
  inputGradGeometry,
  tapPixels,
  transposeNAC,
} from "./convGeometry.js";
import { cachedFilter } from "./filterCache.js";
import { CLAMPS, conv2dTapGemm, useForwardGemm } from "./fusedConv2d.js";
import { wasmKernelOptions } from "./options.js";
import { f32, free, heapOffset, run, simdFor, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

/** Pixels per packed-GEMM pass of conv2dBackpropInputGemm (bounds its column buffer). */
const GEMM_CHUNK_PIXELS = 512;

/**
 * Where the packed GEMM beats the phase convolutions, measured at batch 32 with a fresh filter per
 * call as in training (CPU ms per call, old/new, loaded machine): strided convs with at most 4x4
 * output maps (6x6x256->512 s2 48/17, 10x10x128->256 s2 21/19, 1x1 4x4x256->512 s2 6.7/4.9) and
 * stride-1 ones on 2x2 maps (2x2x512->512 67/21), but not stride 1 from 4x4 up (4x4x256 24/27,
 * 8x8x128 19/32), where one XNNPACK conv does all taps at once. 1x1 stride-1 gradients keep
 * their one convolution with the cached transposed filter: on MobileNetV2's 2x2 maps at 64 px
 * (320->1280, 960->160, 160->960) the GEMM was not clearly faster (best wall 8.0 vs 10.2 ms, mean
 * CPU 9.2 vs 7.0, loaded machine).
 */
function useInputGemm(g: ConvGeom): boolean {
  const map = g.Ho * g.Wo;
  const strided = g.sh * g.sw > 1;
  if (g.Kh * g.Kw === 1 && !strided) return false;
  return g.Ci % 4 === 0 && g.Ci * g.Co > 8192 && (map <= 4 || (map <= 16 && strided));
}

/**
 * XNNPACK in this build has fast depthwise microkernels for 3x3 and 5x5 only;
 * a 2x2 or 2x1 phase kernel falls to a generic path that is 3-8x slower than
 * a 3x3 one (measured: 2x1 87 ms vs 3x3 11 ms on 16x32x32x96), so phase
 * kernels are zero-padded up to the next fast size.
 */
function dwKernelSize(k: number): number {
  if (k <= 3) return 3;
  if (k <= 5) return 5;
  return k;
}

/**
 * dx is a full correlation of dy with the spatially flipped filter. With
 * stride s the taps split into s*s phases (tap index mod s); each phase is a
 * plain stride-1 convolution of dy with a sub-filter, and the phases
 * interleave into dx. That keeps all arithmetic inside XNNPACK and avoids the
 * s*s-fold waste of convolving a zero-dilated dy. Stride 1 is the one-phase
 * case, where explicit padding lands the result exactly on dx; given packedGemm, that convolution
 * runs on the forward pass's tap GEMM where it would (fusedConv2d.ts: many channels, small maps),
 * which beat XNNPACK there (`pnpm bench kernels --resnet --compare forward`).
 */
export function backpropInputByPhases(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeom,
  depthwise: boolean,
  packedGemm?: NonNullable<ReturnType<typeof simdKernelsFor>>["packedGemm"],
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw, sh, sw, pt, pb, pl, pr } = g;
  const conv = depthwise ? depthwisePadded : conv2dValidPadded;
  // Depthwise sub-filters are [kh, kw, C, 1]; ordinary ones [kh, kw, Co, Ci].
  const subInner = depthwise ? Ci : Co * Ci;

  // Taps past the filter edge (kh >= Kh) are zero: that lets a phase use a
  // larger kernel than it needs, see dwKernelSize.
  const makeSubFilter = (rh: number, rw: number, krh: number, krw: number): TensorInfo => {
    const sub = backend.makeOutput(depthwise ? [krh, krw, Ci, 1] : [krh, krw, Co, Ci], "float32");
    const s = f32(backend, sub);
    const w = f32(backend, filter);
    s.fill(0);
    for (let j = 0; j < krh; j++) {
      const kh = rh + sh * (krh - 1 - j);
      if (kh >= Kh) continue;
      for (let i = 0; i < krw; i++) {
        const kw = rw + sw * (krw - 1 - i);
        if (kw >= Kw) continue;
        const src = (kh * Kw + kw) * subInner;
        const dst = (j * krw + i) * subInner;
        if (depthwise) {
          s.set(w.subarray(src, src + Ci), dst);
        } else {
          // filter tap is [Ci, Co]; XNNPACK wants [Co, Ci] for this direction
          for (let co = 0; co < Co; co++) {
            const d = dst + co * Ci;
            for (let ci = 0; ci < Ci; ci++) s[d + ci] = w[src + ci * Co + co] as number;
          }
        }
      }
    }
    return sub;
  };

  const subFilter = (rh: number, rw: number, krh: number, krw: number) =>
    cachedFilter(backend, filter, `${depthwise ? "dw" : "conv"}:${rh},${rw},${krh},${krw}`, () =>
      makeSubFilter(rh, rw, krh, krw),
    );

  if (sh === 1 && sw === 1 && Kh - 1 - pt >= 0 && Kh - 1 - pb >= 0 && Kw - 1 - pl >= 0 && Kw - 1 - pr >= 0) {
    const sub = subFilter(0, 0, Kh, Kw);
    const pads: [number, number, number, number] = [Kh - 1 - pt, Kh - 1 - pb, Kw - 1 - pl, Kw - 1 - pr];
    // the same convolution, as the forward pass would run it: dy [N, Ho, Wo, Co] -> dx [N, H, W, Ci]
    const t: ConvGeom = {
      ...g,
      H: Ho,
      W: Wo,
      Ci: Co,
      Ho: H,
      Wo: W,
      Co: Ci,
      pt: pads[0],
      pb: pads[1],
      pl: pads[2],
      pr: pads[3],
    };
    const dx =
      !depthwise && packedGemm && useForwardGemm(t)
        ? conv2dTapGemm(backend, dy, sub.t, undefined, CLAMPS.linear as [number, number], t, packedGemm)
        : conv(backend, dy, sub.t, pads);
    sub.release();
    return dx;
  }

  interface Phase {
    rh: number;
    rw: number;
    z: TensorInfo | null;
    zh: number;
    zw: number;
  }
  const phases: Phase[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const krh = rh < Kh ? Math.ceil((Kh - rh) / sh) : 0;
      const krw = rw < Kw ? Math.ceil((Kw - rw) / sw) : 0;
      if (krh === 0 || krw === 0) {
        phases.push({ rh, rw, z: null, zh: 0, zw: 0 });
        continue;
      }
      const kh = depthwise ? dwKernelSize(krh) : krh;
      const kw = depthwise ? dwKernelSize(krw) : krw;
      const sub = subFilter(rh, rw, kh, kw);
      const z = conv(backend, dy, sub.t, [kh - 1, kh - 1, kw - 1, kw - 1]);
      sub.release();
      phases.push({ rh, rw, z, zh: Ho + kh - 1, zw: Wo + kw - 1 });
    }
  }

  const dx = backend.makeOutput([N, H, W, Ci], "float32");
  const out = f32(backend, dx);
  for (const p of phases) {
    const z = p.z ? f32(backend, p.z) : null;
    // dx row y belongs to this phase when (y + pt) % sh == rh, and reads z row m = (y + pt - rh) / sh.
    const y0 = (((p.rh - pt) % sh) + sh) % sh;
    const x0 = (((p.rw - pl) % sw) + sw) % sw;
    for (let n = 0; n < N; n++) {
      for (let y = y0; y < H; y += sh) {
        const m = (y + pt - p.rh) / sh;
        const rowOk = z !== null && m >= 0 && m < p.zh;
        for (let x = x0; x < W; x += sw) {
          const d = ((n * H + y) * W + x) * Ci;
          const k = (x + pl - p.rw) / sw;
          if (rowOk && k >= 0 && k < p.zw) {
            const s = ((n * p.zh + m) * p.zw + k) * Ci;
            out.set((z as Float32Array).subarray(s, s + Ci), d);
          } else {
            out.fill(0, d, d + Ci);
          }
        }
      }
    }
  }
  for (const p of phases) if (p.z) free(backend, p.z);
  return dx;
}

/**
 * For few input channels (the stem: 3x3x3) the phase convolutions have only
 * Ci output channels, which XNNPACK tiles poorly (~450 ms for the batch-16
 * 128 px stem, whose input gradient tf.layers computes although nothing
 * uses it). Instead: one GEMM cols = dy [P, Co] x W^T [Co, Kh*Kw*Ci], then
 * scatter-add each patch back (col2im), P*Kh*Kw*Ci adds in JS.
 */
function conv2dBackpropInputCol2im(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeom,
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw, sh, sw, pt, pl } = g;
  const KK = Kh * Kw * Ci;
  const P = N * Ho * Wo;
  const wT = backend.makeOutput([Co, KK], "float32");
  transposeNAC(f32(backend, filter), f32(backend, wT), 1, KK, Co);
  const dy2 = run("Reshape", backend, { x: dy }, { shape: [P, Co] });
  const cols = run("BatchMatMul", backend, { a: dy2, b: wT }, { transposeA: false, transposeB: false });
  free(backend, wT, dy2);
  const out = backend.makeOutput([N, H, W, Ci], "float32");
  const o = f32(backend, out);
  const cs = f32(backend, cols);
  o.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        let c = ((n * Ho + oy) * Wo + ox) * KK;
        for (let kh = 0; kh < Kh; kh++) {
          const iy = oy * sh + kh - pt;
          if (iy < 0 || iy >= H) {
            c += Kw * Ci;
            continue;
          }
          for (let kw = 0; kw < Kw; kw++, c += Ci) {
            const ix = ox * sw + kw - pl;
            if (ix < 0 || ix >= W) continue;
            const d = ((n * H + iy) * W + ix) * Ci;
            for (let ci = 0; ci < Ci; ci++) o[d + ci] = (o[d + ci] as number) + (cs[c + ci] as number);
          }
        }
      }
    }
  }
  free(backend, cols);
  return out;
}

/**
 * col2im with the SIMD packedGemm: per pixel chunk and tap t, colsT [Ci, pixels] = W[t] x dy^T
 * over the pixels whose tap lands inside dx (taps in the padding are skipped, not multiplied),
 * then added into dx. The filter, the large operand, is the GEMM's streamed side: 4 of its rows
 * interleaved, Co contiguous as stored (kept per filter by cachedFilter), and dy is packed in
 * blocks of 8 pixels, re-read from L2. No XNNPACK operator is created, so nothing is re-packed
 * per fresh tensor. For the small maps of deep layers the phase convolutions have only a few
 * output pixels per image, which XNNPACK tiles poorly (ResNet-18 layer3/4 at 64 px, see the
 * README table). Needs Ci a multiple of 4.
 */
function conv2dBackpropInputGemm(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeom,
  packedGemm: NonNullable<ReturnType<typeof simdKernelsFor>>["packedGemm"],
): TensorInfo {
  const { N, H, W, Ci, Ho, Wo, Co, Kh, Kw } = g;
  const P = N * Ho * Wo;
  const R = Kh * Kw * Ci;
  const chunk = Math.min(Math.ceil(P / 4) * 4, GEMM_CHUNK_PIXELS);
  // W [R, Co] as [R/4][Co][4]: tap t's rows are blocks t*Ci/4 ..
  const packW = (): TensorInfo => {
    const t = backend.makeOutput([R * Co], "float32");
    const ws = f32(backend, filter);
    const as = f32(backend, t);
    for (let r = 0; r < R; r++) {
      for (let co = 0, s = r * Co, d = (r >> 2) * Co * 4 + (r & 3); co < Co; co++, d += 4)
        as[d] = ws[s + co] as number;
    }
    return t;
  };
  const aPack = cachedFilter(backend, filter, "gemm:w4", packW);
  const out = backend.makeOutput([N, H, W, Ci], "float32");
  // [0, chunk*Co): dy^T of every pixel of the chunk; then dy^T of one tap's pixels
  const bPack = backend.makeOutput([2 * chunk * Co], "float32");
  const colsT = backend.makeOutput([Ci * chunk], "float32");
  const aOff = heapOffset(backend, aPack.t);
  const bOff = heapOffset(backend, bPack);
  const cOff = heapOffset(backend, colsT);
  const ds = f32(backend, dy);
  const bs = f32(backend, bPack);
  const cs = f32(backend, colsT);
  const o = f32(backend, out);
  o.fill(0);
  const dxAt = new Int32Array(chunk);
  const dyAt = new Int32Array(chunk);
  /** dy rows dyAt[0..n) as columns: [pairs][Co][8], then [Co][4]; zeros past n */
  const packDyT = (base: number, n: number) => {
    const groups = Math.ceil(n / 4);
    const pairs = groups >> 1;
    bs.fill(0, base, base + groups * 4 * Co);
    for (let j = 0; j < n; j++) {
      const q = j >> 3;
      const w = q < pairs ? 8 : 4;
      const s = dyAt[j] as number;
      for (let co = 0, d = base + q * Co * 8 + (j - q * 8); co < Co; co++, d += w)
        bs[d] = ds[s + co] as number;
    }
  };
  for (let p0 = 0; p0 < P; p0 += chunk) {
    const n = Math.min(chunk, P - p0);
    let fullPacked = false;
    for (let kh = 0; kh < Kh; kh++) {
      for (let kw = 0; kw < Kw; kw++) {
        const nv = tapPixels(g, p0, n, kh, kw, dxAt, dyAt);
        if (nv === 0) continue;
        let bBase = chunk * Co;
        if (nv === n) {
          if (!fullPacked) packDyT(0, n);
          fullPacked = true;
          bBase = 0;
        } else {
          packDyT(bBase, nv);
        }
        const groups = Math.ceil(nv / 4);
        const nPad = groups * 4;
        cs.fill(0, 0, Ci * nPad);
        const t = kh * Kw + kw;
        packedGemm(cOff, aOff + t * Ci * Co * 4, bOff + bBase * 4, Co, Ci >> 2, groups, nPad * 4);
        for (let ci = 0; ci < Ci; ci++) {
          const row = ci * nPad;
          for (let j = 0; j < nv; j++) {
            const d = (dxAt[j] as number) + ci;
            o[d] = (o[d] as number) + (cs[row + j] as number);
          }
        }
      }
    }
  }
  free(backend, bPack, colsT);
  aPack.release();
  return out;
}

/**
 * A 1x1 input gradient with at least `pointwiseConvMinCi` input channels (see
 * WasmKernelOptions) is dy x W^T, one 1x1 convolution with the (cached, see
 * cachedFilter) transposed filter; XNNPACK handles it well down to a few
 * output channels, so from there on it beats col2im's GEMM + JS copy.
 */
export const conv2DBackpropInputConfig = wasmKernel<"dy" | "filter", ConvGradAttrs>(
  "Conv2DBackpropInput",
  ["dy", "filter"],
  ({ inputs: { dy, filter }, attrs, backend }) => {
    const g = inputGradGeometry("Conv2DBackpropInput", dy, filter, attrs, false);
    if (
      g.Kh * g.Kw * g.Ci <= IM2COL_MAX_ROWS &&
      !(g.Kh === 1 && g.Kw === 1 && g.Ci >= wasmKernelOptions.pointwiseConvMinCi)
    ) {
      return conv2dBackpropInputCol2im(backend, dy, filter, g);
    }
    const simd = simdFor(backend);
    if (simd && useInputGemm(g)) return conv2dBackpropInputGemm(backend, dy, filter, g, simd.packedGemm);
    return backpropInputByPhases(backend, dy, filter, g, false, simd?.packedGemm);
  },
);
