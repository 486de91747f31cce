/**
 * What the four convolution-gradient kernels share: the geometry of a call (checked against its
 * operands), the backend's own convolutions with explicit padding, and the layout change XNNPACK
 * needs for GEMM operands.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { run, type WasmBackendLike } from "./wasmKernel.js";

type Pad =
  | "valid"
  | "same"
  | number
  | [[number, number], [number, number], [number, number], [number, number]];
type Pair = number | [number, number];

export interface ConvGeom {
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

/** The attributes tfjs passes to every convolution-gradient kernel. */
export interface ConvGradAttrs {
  strides: Pair;
  pad: Pad;
  dataFormat?: string;
  dimRoundingMode?: "floor" | "round" | "ceil";
  dilations?: Pair;
  filterShape?: number[];
  inputShape?: number[];
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
  a: ConvGradAttrs,
  depthwise: boolean,
): ConvGeom {
  const { strides, dilations, pad, dimRoundingMode, dataFormat } = a;
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

function shapeAttr(v: number[] | undefined, name: string, kernel: string): number[] {
  if (!v) throw new Error(`${kernel}: missing attribute ${name}`);
  return Array.from(v);
}

/** The checked geometry of an input-gradient call (dy, filter; the input's shape is an attribute). */
export function inputGradGeometry(
  kernel: string,
  dy: TensorInfo,
  filter: TensorInfo,
  a: ConvGradAttrs,
  depthwise: boolean,
): ConvGeom {
  checkFloat(kernel, dy, filter);
  const inputShape = shapeAttr(a.inputShape, "inputShape", kernel);
  const g = geometry(kernel, inputShape, filter.shape, a, depthwise);
  checkShape(kernel, "dy", dy.shape, [g.N, g.Ho, g.Wo, g.Co]);
  return g;
}

/** The checked geometry of a forward convolution (x, filter), depthwise or not. */
export function forwardGeometry(
  kernel: string,
  x: TensorInfo,
  filter: TensorInfo,
  a: ConvGradAttrs,
  depthwise: boolean,
): ConvGeom {
  checkFloat(kernel, x, filter);
  return geometry(kernel, x.shape, filter.shape, a, depthwise);
}

/** The checked geometry of a filter-gradient call (x, dy; the filter's shape is an attribute). */
export function filterGradGeometry(
  kernel: string,
  x: TensorInfo,
  dy: TensorInfo,
  a: ConvGradAttrs,
  depthwise: boolean,
): ConvGeom {
  checkFloat(kernel, x, dy);
  const filterShape = shapeAttr(a.filterShape, "filterShape", kernel);
  const g = geometry(kernel, x.shape, filterShape, a, depthwise);
  checkShape(kernel, "dy", dy.shape, [g.N, g.Ho, g.Wo, g.Co]);
  return g;
}

export function conv2dValidPadded(
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

export function depthwisePadded(
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

/** [N, A, C] -> [C, A, N] (both "A" axes flattened), the layout XNNPACK needs. */
export function transposeNAC(
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
 * Below this many patch rows (Kh*Kw*Ci) the transposed im2col matrix is small
 * enough that building it plus one GEMM beats the convolution trick, whose
 * XNNPACK tiling is poor when its output has only Kh*Kw*Ci pixels.
 */
export const IM2COL_MAX_ROWS = 64;

/**
 * The output pixels p0 .. p0+n-1 whose filter tap (kh, kw) reads inside the input map (taps on the
 * padding are skipped): for the i-th of them, `inAt[i]` is the offset of its input pixel in an NHWC
 * input (or input gradient) and `dyAt[i]` that of its row in dy. Returns how many there are.
 */
export function tapPixels(
  g: ConvGeom,
  p0: number,
  n: number,
  kh: number,
  kw: number,
  inAt: Int32Array,
  dyAt: Int32Array,
): number {
  const { H, W, Ci, Ho, Wo, Co, sh, sw, pt, pl } = g;
  const HoWo = Ho * Wo;
  let nv = 0;
  for (let p = p0; p < p0 + n; p++) {
    const img = Math.floor(p / HoWo);
    const r = p - img * HoWo;
    const oy = Math.floor(r / Wo);
    const iy = oy * sh + kh - pt;
    const ix = (r - oy * Wo) * sw + kw - pl;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
    inAt[nv] = ((img * H + iy) * W + ix) * Ci;
    dyAt[nv] = p * Co;
    nv++;
  }
  return nv;
}
