/**
 * Convolution gradient kernels for tfjs-backend-wasm.
 *
 * The wasm backend ships no Conv2DBackpropFilter / DepthwiseConv2dNative
 * backprop kernels (tfjs#8474) and its Conv2DBackpropInput is a scalar C++
 * loop. The kernels here combine the backend's XNNPACK-backed Conv2D /
 * DepthwiseConv2dNative / BatchMatMul, JS loops for layout changes and small
 * scatter work, and hand-assembled wasm SIMD loops (simdDot.ts) running on
 * the backend's own heap. Which path runs depends on the shape (see the
 * thresholds below, each set from measurements on this machine); every path
 * is tested against the cpu backend.
 *
 * Measured on this machine (see bench-kernels.ts), the shipped wasm
 * BatchMatMul falls to a scalar path whenever transposeA/transposeB is set
 * (~13x slower) and the wasm Transpose/StridedSlice kernels are slower than a
 * JS copy loop, so layout changes are done in JS and matmuls are always fed
 * un-transposed operands. XNNPACK also re-packs the weight operand of every
 * fresh tensor (a [24,16384]x[16384,144] matmul: 162 ms with a fresh B, 22 ms
 * with a cached one, on a loaded machine), which is why filter gradients with
 * small channel blocks use the SIMD rank-1 kernel instead of a GEMM or conv.
 *
 * Tile, Sum, Mean, GreaterEqual, LessEqual, LogicalAnd and Select are
 * replaced too (all but Tile only for their simple cases, delegating the
 * rest to the shipped kernels): they sit on the batch-norm and ReLU6
 * gradient paths and dominated a profiled training step once the conv
 * gradients were fast.
 *
 * For the input gradients of explanation (thousands per image) three more:
 * Identity shares the buffer instead of copying it (the engine clones every
 * tensor a gradient saves), the Relu / Relu6 / ClipByValue gradients run as
 * one SIMD pass each (registerFusedActivationGrads), and the rearranged
 * filters of Conv2DBackpropInput are cached per source filter (cachedFilter),
 * so XNNPACK keeps their packed weights too.
 */

import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
// Loaded first so the shipped wasm kernels are registered before ours
// replace some of them (and are kept as fallbacks), whatever the caller's
// import order.
import "@tensorflow/tfjs-backend-wasm";
import { type ChannelDot, simdKernelsFor, type WasmMemory } from "./simdDot.js";

const BACKEND = "wasm";

/** The parts of BackendWasm these kernels rely on. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm?: { asm?: { memory?: WasmMemory } };
}

let simdAllowed = true;

/**
 * Tests use this to exercise the fallback paths (taken on runtimes without
 * wasm SIMD) on a machine that has it.
 */
export function setWasmGradSimd(enabled: boolean): void {
  simdAllowed = enabled;
}

function simdFor(backend: WasmBackendLike) {
  return simdAllowed ? simdKernelsFor(backend.wasm?.asm?.memory) : null;
}

function heapOffset(backend: WasmBackendLike, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error("tensor is not on the wasm backend");
  return d.memoryOffset;
}

type Pad =
  | "valid"
  | "same"
  | number
  | [[number, number], [number, number], [number, number], [number, number]];
type Pair = number | [number, number];

interface ConvGeom {
  N: number;
  H: number;
  W: number;
  Ci: number;
  Ho: number;
  Wo: number;
  Co: number;
  Kh: number;
  Kw: number;
  sh: number;
  sw: number;
  pt: number;
  pb: number;
  pl: number;
  pr: number;
  /** depthwise channel multiplier (1 for ordinary conv) */
  M: number;
}

function pairOf(v: Pair | undefined, what: string): [number, number] {
  if (v === undefined) return [1, 1];
  if (typeof v === "number") return [v, v];
  const [a, b] = v;
  if (a === undefined || b === undefined) throw new Error(`wasm conv gradient: malformed ${what}`);
  return [a, b];
}

function geometry(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  strides: Pair,
  dilations: Pair | undefined,
  pad: Pad,
  dimRoundingMode: "floor" | "round" | "ceil" | undefined,
  dataFormat: string | undefined,
  depthwise: boolean,
): ConvGeom {
  if (dataFormat !== undefined && dataFormat !== "NHWC" && dataFormat !== "channelsLast") {
    throw new Error(`${kernel} on wasm supports only NHWC data, got dataFormat=${dataFormat}`);
  }
  const [dh, dw] = pairOf(dilations, "dilations");
  if (dh !== 1 || dw !== 1) {
    throw new Error(`${kernel} on wasm supports only dilation 1, got dilations=[${dh},${dw}]`);
  }
  if (xShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(`${kernel} on wasm expects rank-4 input and filter, got ${xShape} and ${filterShape}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    depthwise,
    "channelsLast",
  );
  return {
    N: info.batchSize,
    H: info.inHeight,
    W: info.inWidth,
    Ci: info.inChannels,
    Ho: info.outHeight,
    Wo: info.outWidth,
    Co: info.outChannels,
    Kh: info.filterHeight,
    Kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    pt: info.padInfo.top,
    pb: info.padInfo.bottom,
    pl: info.padInfo.left,
    pr: info.padInfo.right,
    M: depthwise ? (filterShape[3] ?? 1) : 1,
  };
}

function checkShape(kernel: string, what: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(`${kernel}: ${what} has shape [${got}] but the convolution geometry implies [${want}]`);
  }
}

function checkFloat(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== "float32") throw new Error(`${kernel} on wasm supports float32 only, got ${t.dtype}`);
  }
}

// --- thin wrappers over the wasm backend's own kernels -----------------------
// Calling the kernel functions directly (not through the engine) keeps the
// intermediates off the engine's tape and tensor count; each is freed with
// disposeData as soon as it has been consumed.

function wasmKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, BACKEND);
  if (!k) throw new Error(`wasm kernel ${name} is not registered (is @tensorflow/tfjs-backend-wasm loaded?)`);
  return k.kernelFunc;
}

function run(
  name: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const out = wasmKernel(name)({
    inputs,
    backend: backend as unknown as tf.KernelBackend,
    attrs: attrs as tf.NamedAttrMap,
  });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}

function conv2dValidPadded(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  pads: [number, number, number, number],
  dilations: [number, number] = [1, 1],
): TensorInfo {
  const [t, b, l, r] = pads;
  return run(
    "Conv2D",
    backend,
    { x, filter },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ],
      dataFormat: "NHWC",
      dilations,
      dimRoundingMode: undefined,
    },
  );
}

function depthwisePadded(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  pads: [number, number, number, number],
): TensorInfo {
  const [t, b, l, r] = pads;
  return run(
    "DepthwiseConv2dNative",
    backend,
    { x, filter },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ],
      dataFormat: "NHWC",
      dilations: [1, 1],
      dimRoundingMode: undefined,
    },
  );
}

/**
 * Heap views go stale when the wasm memory grows (any allocation may grow
 * it), so views are taken only after the last allocation of a step.
 */
function f32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error("expected a float32 tensor");
  return a;
}

function free(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

// --- Conv2DBackpropInput ------------------------------------------------------

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

// --- repacked filters, cached per source filter --------------------------------

/**
 * The input gradient convolves dy with a rearranged filter (taps flipped,
 * [Ci, Co] blocks transposed, split by stride phase). Building it is a JS
 * loop, and XNNPACK packs the weights of every filter tensor it has not seen,
 * so a fresh sub-filter per call costs both every time (measured 15 vs 9 ms
 * for a batch-16 4x4x1280 -> 320 input gradient). The sub-filters are
 * therefore kept per source filter (a tensor's values never change while its
 * dataId lives), and the wasm Conv2D's own operator cache then keeps the packed
 * weights too. Explanation runs the same weights thousands of times; in
 * training every step has new weights, and an entry is freed together with
 * its source (see hookDisposal). The total is capped (LRU).
 */
const FILTER_CACHE_MAX_BYTES = 64 << 20;
interface CachedFilter {
  t: TensorInfo;
  bytes: number;
}
/** source filter dataId -> (variant -> entry); Map order is LRU order. */
const filterCache = new Map<object, Map<string, CachedFilter>>();
let filterCacheBackend: WasmBackendLike | null = null;
let filterCacheBytes = 0;
let filterCacheEnabled = true;
const disposalHooked = new WeakSet<object>();

/** Tests and benchmarks use this to compare cached and uncached runs; also frees everything cached. */
export function setWasmFilterCache(enabled: boolean): void {
  filterCacheEnabled = enabled;
  clearWasmFilterCache();
}

/** Frees every cached filter (each is also freed as soon as its source filter is). */
export function clearWasmFilterCache(): void {
  for (const source of [...filterCache.keys()]) dropEntries(source);
}

function dropEntries(source: object): void {
  const byKey = filterCache.get(source);
  if (!byKey) return;
  filterCache.delete(source);
  for (const e of byKey.values()) {
    filterCacheBytes -= e.bytes;
    filterCacheBackend?.disposeData(e.t.dataId);
  }
}

/**
 * Frees a source's cached filters the moment the backend frees the source's
 * buffer (its last reference is disposed), so nothing outlives its filter:
 * in training the old weights' entries go with the optimizer's update.
 */
function hookDisposal(backend: WasmBackendLike): void {
  if (disposalHooked.has(backend)) return;
  disposalHooked.add(backend);
  const original = backend.disposeData.bind(backend);
  backend.disposeData = (dataId: object, force?: boolean): boolean => {
    const freed = original(dataId, force);
    if (freed && filterCache.has(dataId)) dropEntries(dataId);
    return freed;
  };
}

/**
 * The filter built by `make` for (source filter, variant key), from the cache
 * when possible. `release` must be called when the caller is done with it
 * (frees it unless the cache keeps it).
 */
function cachedFilter(
  backend: WasmBackendLike,
  source: TensorInfo,
  key: string,
  make: () => TensorInfo,
): { t: TensorInfo; release: () => void } {
  const uncached = () => {
    const t = make();
    return { t, release: () => free(backend, t) };
  };
  if (!filterCacheEnabled) return uncached();
  if (filterCacheBackend !== backend) {
    // A new backend instance: the old one's buffers are gone with it.
    filterCache.clear();
    filterCacheBytes = 0;
    filterCacheBackend = backend;
  }
  hookDisposal(backend);
  const byKey = filterCache.get(source.dataId);
  const hit = byKey?.get(key);
  if (byKey && hit) {
    // most recently used last
    filterCache.delete(source.dataId);
    filterCache.set(source.dataId, byKey);
    return { t: hit.t, release: () => {} };
  }
  const made = uncached();
  const bytes = 4 * tf.util.sizeFromShape(made.t.shape);
  if (bytes > FILTER_CACHE_MAX_BYTES / 4) return made;
  while (filterCacheBytes + bytes > FILTER_CACHE_MAX_BYTES && filterCache.size > 0) {
    dropEntries(filterCache.keys().next().value as object);
  }
  const entries = byKey ?? new Map<string, CachedFilter>();
  entries.set(key, { t: made.t, bytes });
  filterCache.delete(source.dataId);
  filterCache.set(source.dataId, entries);
  filterCacheBytes += bytes;
  return { t: made.t, release: () => {} };
}

/**
 * dx is a full correlation of dy with the spatially flipped filter. With
 * stride s the taps split into s*s phases (tap index mod s); each phase is a
 * plain stride-1 convolution of dy with a sub-filter, and the phases
 * interleave into dx. That keeps all arithmetic inside XNNPACK and avoids the
 * s*s-fold waste of convolving a zero-dilated dy. Stride 1 is the one-phase
 * case, where explicit padding lands the result exactly on dx.
 */
function backpropInputByPhases(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeom,
  depthwise: boolean,
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
    const dx = conv(backend, dy, sub.t, [Kh - 1 - pt, Kh - 1 - pb, Kw - 1 - pl, Kw - 1 - pr]);
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
 * A 1x1 input gradient is dy x W^T, one 1x1 convolution with the (cached,
 * see cachedFilter) transposed filter; XNNPACK handles it well down to a few
 * output channels, so from this many input channels it beats col2im's GEMM +
 * JS copy.
 */
let POINTWISE_CONV_MIN_CI = 8;
/** Bench hook: from how many input channels 1x1 input gradients use the conv path. */
export function setPointwiseConvMinCi(n: number): void {
  POINTWISE_CONV_MIN_CI = n;
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

// --- Conv2DBackpropFilter -----------------------------------------------------

/** [N, A, C] -> [C, A, N] (both "A" axes flattened), the layout XNNPACK needs. */
function transposeNAC(
  src: Float32Array,
  dst: Float32Array,
  N: number,
  A: number,
  C: number,
  aStride = A,
): void {
  // Blocked over channels so each pass writes a few contiguous destination rows.
  const AN = A * N;
  for (let n = 0; n < N; n++) {
    for (let a = 0; a < A; a++) {
      const s = (n * aStride + a) * C;
      let d = a * N + n;
      for (let c = 0; c < C; c++, d += AN) dst[d] = src[s + c] as number;
    }
  }
}

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
 * 164 vs 129 ms).
 */
const KXK_OUTER_MAX_ELEMS = 8192;
const OUTER_CHUNK_PIXELS = 512;

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
 * Below this many patch rows (Kh*Kw*Ci) the transposed im2col matrix is small
 * enough that building it plus one GEMM beats the convolution trick, whose
 * XNNPACK tiling is poor when its output has only Kh*Kw*Ci pixels.
 */
const IM2COL_MAX_ROWS = 64;

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
  if (Kh * Kw * Ci <= IM2COL_MAX_ROWS) return conv2dBackpropFilterIm2col(backend, x, dy, g);

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

// --- DepthwiseConv2dNativeBackpropFilter ------------------------------------

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

// --- DepthwiseConv2dNativeBackpropInput, strided -----------------------------

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
  o.fill(0);
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
  }
  return out;
}

// --- DepthwiseConv2dNativeBackpropInput (channel multiplier > 1) ------------

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

// --- Tile ---------------------------------------------------------------------

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

const tileConfig: tf.KernelConfig = {
  kernelName: "Tile",
  backendName: BACKEND,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const x = input(inputs, "x", "Tile");
    const reps = (attrs as unknown as { reps: number[] }).reps;
    return tileImpl(backendOf(backend), x, Array.from(reps));
  },
};

// --- Sum / Mean over leading axes ------------------------------------------------

/**
 * Batch norm reduces NHWC activations over [0,1,2] (Mean in the forward pass,
 * Sum for every parameter gradient). The shipped wasm reductions first
 * transpose the reduced axes innermost with the slow wasm Transpose; in a
 * profiled MobileNetV2 step Sum+Mean took 6 s of 25 s. A reduction over a
 * leading prefix of axes is a column sum of a [rows, cols] matrix, which the
 * SIMD channelDot kernel does in place (dy = a ones row with stride 0), in
 * chunks whose partial sums are accumulated in float64.
 */
const shipped = new Map<string, tf.KernelConfig>();
const shippedSetUp = new WeakMap<object, Set<string>>();

function callShipped(name: string, args: Parameters<tf.KernelFunc>[0]): ReturnType<tf.KernelFunc> {
  const k = shipped.get(name);
  if (!k) throw new Error(`no shipped wasm kernel ${name} to fall back to`);
  // Its setup (binding the C function) only ran if it was registered when
  // the backend initialised; running it again just re-binds.
  let done = shippedSetUp.get(args.backend);
  if (!done) {
    done = new Set();
    shippedSetUp.set(args.backend, done);
  }
  if (!done.has(name)) {
    k.setupFunc?.(args.backend);
    done.add(name);
  }
  return k.kernelFunc(args);
}

const COLSUM_CHUNK_ROWS = 256;

function leadingReduction(shape: number[], axis: number | number[]): number | null {
  const rank = shape.length;
  const axes = tf.util.parseAxisParam(axis, shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= rank) return null;
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return null;
  return axes.length;
}

function columnSum(
  backend: WasmBackendLike,
  x: TensorInfo,
  k: number,
  keepDims: boolean,
  scale: number,
): TensorInfo | null {
  const dot = simdFor(backend)?.channelDot;
  if (!dot || x.dtype !== "float32") return null;
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(k).reduce((a, b) => a * b, 1);
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
  const out = backend.makeOutput(outShape, "float32");
  const groups = cols >> 2;
  const ones = backend.makeOutput([Math.max(4, groups * 4)], "float32");
  const scratch = backend.makeOutput([Math.max(4, groups * 4)], "float32");
  const xs = f32(backend, x);
  f32(backend, ones).fill(1);
  const sv = f32(backend, scratch);
  const xOff = heapOffset(backend, x);
  const onesOff = heapOffset(backend, ones);
  const sOff = heapOffset(backend, scratch);
  const acc = new Float64Array(cols);
  for (let r0 = 0; r0 < rows; r0 += COLSUM_CHUNK_ROWS) {
    const n = Math.min(COLSUM_CHUNK_ROWS, rows - r0);
    if (groups > 0) {
      dot(xOff + r0 * cols * 4, onesOff, sOff, n, groups, cols * 4, 0);
      for (let c = 0; c < groups * 4; c++) acc[c] = (acc[c] as number) + (sv[c] as number);
    }
    for (let c = groups * 4; c < cols; c++) {
      let t = 0;
      for (let r = r0, i = r0 * cols + c; r < r0 + n; r++, i += cols) t += xs[i] as number;
      acc[c] = (acc[c] as number) + t;
    }
  }
  free(backend, ones, scratch);
  const o = f32(backend, out);
  for (let c = 0; c < cols; c++) o[c] = (acc[c] as number) * scale;
  return out;
}

function reductionConfig(name: "Sum" | "Mean"): tf.KernelConfig {
  return {
    kernelName: name,
    backendName: BACKEND,
    kernelFunc: (args) => {
      const x = input(args.inputs, "x", name);
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const k = leadingReduction(x.shape, axis);
      if (k !== null) {
        const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
        const r = columnSum(backendOf(args.backend), x, k, keepDims, name === "Mean" ? 1 / rows : 1);
        if (r) return r;
      }
      return callShipped(name, args);
    },
  };
}

const sumConfig = reductionConfig("Sum");
const meanConfig = reductionConfig("Mean");

// --- ReLU6 gradient elementwise ops ---------------------------------------------

/**
 * clipByValue's gradient (every ReLU6 in MobileNetV2) is
 * select(logicalAnd(x >= 0, x <= 6), dy, 0). The shipped wasm kernels for
 * these four ops go through a generic broadcasting loop at ~25 ns per
 * element, which made them ~25% of a profiled training step. Plain JS loops
 * cover the equal-shape and scalar-operand cases; anything else (real
 * broadcasting) goes to the shipped kernels.
 */
type Operands = { mode: "same" | "aScalar" | "bScalar"; shape: number[] } | null;

function simpleOperands(a: TensorInfo, b: TensorInfo): Operands {
  const sizeA = tf.util.sizeFromShape(a.shape);
  const sizeB = tf.util.sizeFromShape(b.shape);
  if (tf.util.arraysEqual(a.shape, b.shape)) return { mode: "same", shape: a.shape };
  if (sizeA !== 1 && sizeB !== 1) return null;
  const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const size = tf.util.sizeFromShape(shape);
  if (sizeB === 1 && size === sizeA) return { mode: "bScalar", shape };
  if (sizeA === 1 && size === sizeB) return { mode: "aScalar", shape };
  return null;
}

type Numeric = Float32Array | Int32Array | Uint8Array;

function compareConfig(name: "GreaterEqual" | "LessEqual"): tf.KernelConfig {
  const ge = name === "GreaterEqual";
  return {
    kernelName: name,
    backendName: BACKEND,
    kernelFunc: (args) => {
      const a = input(args.inputs, "a", name);
      const b = input(args.inputs, "b", name);
      const ops = simpleOperands(a, b);
      if (!ops || a.dtype !== b.dtype || (a.dtype !== "float32" && a.dtype !== "int32")) {
        return callShipped(name, args);
      }
      const backend = backendOf(args.backend);
      const out = backend.makeOutput(ops.shape, "bool");
      const o = backend.typedArrayFromHeap(out) as Uint8Array;
      const av = backend.typedArrayFromHeap(a) as Numeric;
      const bv = backend.typedArrayFromHeap(b) as Numeric;
      const n = o.length;
      if (ops.mode === "same") {
        if (ge) for (let i = 0; i < n; i++) o[i] = (av[i] as number) >= (bv[i] as number) ? 1 : 0;
        else for (let i = 0; i < n; i++) o[i] = (av[i] as number) <= (bv[i] as number) ? 1 : 0;
      } else if (ops.mode === "bScalar") {
        const t = bv[0] as number;
        if (ge) for (let i = 0; i < n; i++) o[i] = (av[i] as number) >= t ? 1 : 0;
        else for (let i = 0; i < n; i++) o[i] = (av[i] as number) <= t ? 1 : 0;
      } else {
        const t = av[0] as number;
        if (ge) for (let i = 0; i < n; i++) o[i] = t >= (bv[i] as number) ? 1 : 0;
        else for (let i = 0; i < n; i++) o[i] = t <= (bv[i] as number) ? 1 : 0;
      }
      return out;
    },
  };
}

const logicalAndConfig: tf.KernelConfig = {
  kernelName: "LogicalAnd",
  backendName: BACKEND,
  kernelFunc: (args) => {
    const a = input(args.inputs, "a", "LogicalAnd");
    const b = input(args.inputs, "b", "LogicalAnd");
    const ops = simpleOperands(a, b);
    if (!ops || a.dtype !== "bool" || b.dtype !== "bool") return callShipped("LogicalAnd", args);
    const backend = backendOf(args.backend);
    const out = backend.makeOutput(ops.shape, "bool");
    const o = backend.typedArrayFromHeap(out) as Uint8Array;
    const av = backend.typedArrayFromHeap(a) as Uint8Array;
    const bv = backend.typedArrayFromHeap(b) as Uint8Array;
    const n = o.length;
    if (ops.mode === "same") for (let i = 0; i < n; i++) o[i] = (av[i] as number) & (bv[i] as number);
    else if (ops.mode === "bScalar") o.set(bv[0] ? av.subarray(0, n) : new Uint8Array(n));
    else o.set(av[0] ? bv.subarray(0, n) : new Uint8Array(n));
    return out;
  },
};

const selectConfig: tf.KernelConfig = {
  kernelName: "Select",
  backendName: BACKEND,
  kernelFunc: (args) => {
    const c = input(args.inputs, "condition", "Select");
    const t = input(args.inputs, "t", "Select");
    const e = input(args.inputs, "e", "Select");
    const simple =
      c.dtype === "bool" &&
      t.dtype === e.dtype &&
      (t.dtype === "float32" || t.dtype === "int32") &&
      tf.util.arraysEqual(c.shape, t.shape) &&
      tf.util.arraysEqual(t.shape, e.shape);
    if (!simple) return callShipped("Select", args);
    const backend = backendOf(args.backend);
    const out = backend.makeOutput(t.shape, t.dtype);
    const o = backend.typedArrayFromHeap(out) as Numeric;
    const cv = backend.typedArrayFromHeap(c) as Uint8Array;
    const tv = backend.typedArrayFromHeap(t) as Numeric;
    const ev = backend.typedArrayFromHeap(e) as Numeric;
    const n = o.length;
    for (let i = 0; i < n; i++) o[i] = cv[i] ? (tv[i] as number) : (ev[i] as number);
    return out;
  },
};

// --- Identity without a copy ------------------------------------------------------

/**
 * The engine clones (Identity) every tensor a gradient saves for the
 * backward pass, and the shipped wasm Identity copies the buffer: 464-642
 * full-activation copies per MobileNetV2 input-gradient batch, ~10% of it.
 * Tensor data is immutable, so the clone can share the buffer by reference
 * count, as the wasm Reshape and the cpu backend's Identity already do.
 */
const identityConfig: tf.KernelConfig = {
  kernelName: "Identity",
  backendName: BACKEND,
  kernelFunc: (args) => {
    const x = input(args.inputs, "x", "Identity");
    if (x.dtype === "string") return callShipped("Identity", args);
    backendOf(args.backend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  },
};

// --- ReLU / clip gradients in one kernel ---------------------------------------------

/**
 * tfjs-core's gradients of Relu (mul(dy, cast(step(x)))), Relu6 (the same
 * with x <= 6 multiplied in) and ClipByValue (where(logicalAnd(x >= lo,
 * x <= hi), dy, zerosLike(dy))) are 3 to 5 elementwise kernels over the full
 * activation; every tf.layers ReLU(maxValue) layer (relu, then clipByValue)
 * runs two of them. These fused kernels compute the same values in one pass
 * each (wasm SIMD, branch-free). registerFusedActivationGrads points the
 * gradients at them on backends that have them and at tfjs-core's own
 * gradients everywhere else.
 */
export const RELU_GRAD_KERNEL = "XnnReluGrad";
export const CLIP_GRAD_KERNEL = "XnnClipByValueGrad";

function maskedGrad(
  args: Parameters<tf.KernelFunc>[0],
  name: string,
  simd: (xOff: number, dyOff: number, outOff: number, n16: number) => void,
  scalar: (x: number, dy: number) => number,
): TensorInfo {
  const dy = input(args.inputs, "dy", name);
  const x = input(args.inputs, "x", name);
  if (dy.dtype !== "float32" || x.dtype !== "float32" || !tf.util.arraysEqual(dy.shape, x.shape)) {
    throw new Error(
      `${name}: expects float32 dy and x of one shape, got ${dy.dtype}[${dy.shape}] and ${x.dtype}[${x.shape}]`,
    );
  }
  const backend = backendOf(args.backend);
  const out = backend.makeOutput(dy.shape, "float32");
  const n = tf.util.sizeFromShape(dy.shape);
  let start = 0;
  if (simdFor(backend)) {
    start = n - (n % 16);
    simd(heapOffset(backend, x), heapOffset(backend, dy), heapOffset(backend, out), start / 16);
  }
  const o = f32(backend, out);
  const d = f32(backend, dy);
  const xv = f32(backend, x);
  for (let i = start; i < n; i++) o[i] = scalar(xv[i] as number, d[i] as number);
  return out;
}

const reluGradConfig: tf.KernelConfig = {
  kernelName: RELU_GRAD_KERNEL,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const k = simdFor(backendOf(args.backend));
    // dy * m, m = 1 for 0 < x <= hi, NaN for NaN x (step(NaN) is NaN), +0 otherwise.
    const hi = (args.attrs as unknown as { hi?: number }).hi ?? Number.POSITIVE_INFINITY;
    return maskedGrad(
      args,
      RELU_GRAD_KERNEL,
      (xo, dyo, oo, n16) => k?.reluGrad(xo, dyo, oo, n16, 0, hi),
      (x, dy) => dy * (x > 0 && x <= hi ? 1 : Number.isNaN(x) ? Number.NaN : 0),
    );
  },
};

const clipGradConfig: tf.KernelConfig = {
  kernelName: CLIP_GRAD_KERNEL,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const k = simdFor(backendOf(args.backend));
    const { clipValueMin: lo, clipValueMax: hi } = args.attrs as unknown as {
      clipValueMin: number;
      clipValueMax: number;
    };
    return maskedGrad(
      args,
      CLIP_GRAD_KERNEL,
      (xo, dyo, oo, n16) => k?.clipGrad(xo, dyo, oo, n16, lo, hi),
      (x, dy) => (x >= lo && x <= hi ? dy : 0),
    );
  },
};

let activationGradsRegistered = false;

/**
 * Replaces the Relu, Relu6 and ClipByValue gradients (process-wide, every backend) by
 * ones that run RELU_GRAD_KERNEL / CLIP_GRAD_KERNEL where the active backend
 * registers them, and tfjs-core's original gradient otherwise. Idempotent.
 */
export function registerFusedActivationGrads(): void {
  if (activationGradsRegistered) return;
  activationGradsRegistered = true;
  const wrap = (kernelName: string, fused: string, attrs: (a: tf.NamedAttrMap) => tf.NamedAttrMap) => {
    const original = tf.getGradient(kernelName);
    if (!original) return;
    tf.registerGradient({
      kernelName,
      inputsToSave: ["x"],
      gradFunc: (dy, saved, a) => {
        const g = dy as tf.Tensor;
        const [x] = saved as [tf.Tensor];
        if (
          !tf.getKernel(fused, tf.getBackend()) ||
          g.dtype !== "float32" ||
          x.dtype !== "float32" ||
          !tf.util.arraysEqual(g.shape, x.shape)
        ) {
          return original.gradFunc(dy, saved, a);
        }
        return {
          x: () =>
            tf.engine().runKernel(fused, { dy: g, x }, attrs(a) as unknown as tf.NamedAttrMap) as tf.Tensor,
        };
      },
    });
  };
  // Both fused kernels are linear in dy with a zero derivative in x (as step and the comparisons
  // are), which is all a second-order gradient through them needs.
  for (const fused of [RELU_GRAD_KERNEL, CLIP_GRAD_KERNEL]) {
    tf.registerGradient({
      kernelName: fused,
      inputsToSave: ["x"],
      gradFunc: (ddx, saved, a) => {
        const [x] = saved as [tf.Tensor];
        return {
          dy: () => tf.engine().runKernel(fused, { dy: ddx as tf.Tensor, x }, a) as tf.Tensor,
          x: () => tf.zerosLike(x),
        };
      },
    });
  }
  wrap("Relu", RELU_GRAD_KERNEL, () => ({}));
  wrap("Relu6", RELU_GRAD_KERNEL, () => ({ hi: 6 }));
  wrap(
    "ClipByValue",
    CLIP_GRAD_KERNEL,
    (a) => ({ clipValueMin: a.clipValueMin, clipValueMax: a.clipValueMax }) as unknown as tf.NamedAttrMap,
  );
}

// --- kernel configs -----------------------------------------------------------

interface ConvGradAttrs {
  strides: Pair;
  pad: Pad;
  dataFormat?: string;
  dimRoundingMode?: "floor" | "round" | "ceil";
  dilations?: Pair;
  filterShape?: number[];
  inputShape?: number[];
}

function attrsOf(a: unknown): ConvGradAttrs {
  return a as ConvGradAttrs;
}

function backendOf(b: unknown): WasmBackendLike {
  return b as WasmBackendLike;
}

function input(inputs: tf.NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: missing input ${name}`);
  return t;
}

function shapeAttr(v: number[] | undefined, name: string, kernel: string): number[] {
  if (!v) throw new Error(`${kernel}: missing attribute ${name}`);
  return Array.from(v);
}

const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: BACKEND,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const K = "Conv2DBackpropInput";
    const dy = input(inputs, "dy", K);
    const filter = input(inputs, "filter", K);
    checkFloat(K, dy, filter);
    const a = attrsOf(attrs);
    const inputShape = shapeAttr(a.inputShape, "inputShape", K);
    const g = geometry(
      K,
      inputShape,
      filter.shape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      a.dataFormat,
      false,
    );
    checkShape(K, "dy", dy.shape, [g.N, g.Ho, g.Wo, g.Co]);
    const b = backendOf(backend);
    if (
      g.Kh * g.Kw * g.Ci <= IM2COL_MAX_ROWS &&
      !(g.Kh === 1 && g.Kw === 1 && g.Ci >= POINTWISE_CONV_MIN_CI)
    ) {
      return conv2dBackpropInputCol2im(b, dy, filter, g);
    }
    return backpropInputByPhases(b, dy, filter, g, false);
  },
};

const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: BACKEND,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const K = "Conv2DBackpropFilter";
    const x = input(inputs, "x", K);
    const dy = input(inputs, "dy", K);
    checkFloat(K, x, dy);
    const a = attrsOf(attrs);
    const filterShape = shapeAttr(a.filterShape, "filterShape", K);
    const g = geometry(
      K,
      x.shape,
      filterShape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      a.dataFormat,
      false,
    );
    checkShape(K, "dy", dy.shape, [g.N, g.Ho, g.Wo, g.Co]);
    return conv2dBackpropFilterImpl(backendOf(backend), x, dy, g);
  },
};

const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: "DepthwiseConv2dNativeBackpropInput",
  backendName: BACKEND,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const K = "DepthwiseConv2dNativeBackpropInput";
    const dy = input(inputs, "dy", K);
    const filter = input(inputs, "filter", K);
    checkFloat(K, dy, filter);
    const a = attrsOf(attrs);
    const inputShape = shapeAttr(a.inputShape, "inputShape", K);
    const g = geometry(
      K,
      inputShape,
      filter.shape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      a.dataFormat,
      true,
    );
    checkShape(K, "dy", dy.shape, [g.N, g.Ho, g.Wo, g.Co]);
    const b = backendOf(backend);
    if (g.M !== 1) return depthwiseBackpropInputLoop(b, dy, filter, g);
    const axpy = simdFor(b)?.channelAxpy;
    return axpy
      ? depthwiseBackpropInputSimd(b, dy, filter, g, axpy)
      : backpropInputByPhases(b, dy, filter, g, true);
  },
};

const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: "DepthwiseConv2dNativeBackpropFilter",
  backendName: BACKEND,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const K = "DepthwiseConv2dNativeBackpropFilter";
    const x = input(inputs, "x", K);
    const dy = input(inputs, "dy", K);
    checkFloat(K, x, dy);
    const a = attrsOf(attrs);
    const filterShape = shapeAttr(a.filterShape, "filterShape", K);
    const g = geometry(
      K,
      x.shape,
      filterShape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      a.dataFormat,
      true,
    );
    checkShape(K, "dy", dy.shape, [g.N, g.Ho, g.Wo, g.Co]);
    return depthwiseBackpropFilterImpl(backendOf(backend), x, dy, g);
  },
};

export const wasmGradKernelConfigs: readonly tf.KernelConfig[] = [
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  tileConfig,
  sumConfig,
  meanConfig,
  compareConfig("GreaterEqual"),
  compareConfig("LessEqual"),
  logicalAndConfig,
  selectConfig,
  identityConfig,
  reluGradConfig,
  clipGradConfig,
];

/**
 * Install the kernels for backend "wasm". Idempotent; replaces the shipped
 * Conv2DBackpropInput and the elementwise/reduction kernels listed in the
 * header (keeping the shipped kernels as fallback). Works before or after the wasm backend initialises
 * because kernels are looked up per call.
 */
export function registerWasmGradKernels(): void {
  for (const cfg of wasmGradKernelConfigs) {
    const existing = tf.getKernel(cfg.kernelName, BACKEND);
    if (existing?.kernelFunc === cfg.kernelFunc) continue;
    if (existing) shipped.set(cfg.kernelName, existing);
    // unregister first: registerKernel would warn about the replacement
    if (existing) tf.unregisterKernel(cfg.kernelName, BACKEND);
    tf.registerKernel(cfg);
  }
  registerFusedActivationGrads();
}
