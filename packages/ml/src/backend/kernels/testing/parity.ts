/**
 * Shared by the kernel tests: every wasm kernel is checked against the cpu
 * backend's kernel of the same name on the same data. Error norm used throughout:
 *   rel = max_i |wasm_i - cpu_i| / max(max_i |cpu_i|, 1e-6)
 * i.e. the worst absolute deviation relative to the largest reference
 * magnitude (an elementwise relative error would be meaningless for entries
 * that cancel to ~0). Tolerance 1e-4 (TOL) unless a test says otherwise.
 */
import * as tf from "@tensorflow/tfjs";
import { mulberry32 } from "@xnn/shared";
import { expect } from "vitest";
import { initBackend } from "../../initBackend.js";
import type { SimdKernels } from "../../simdDot.js";
import { simdFor, type WasmBackendLike } from "../wasmKernel.js";

export const TOL = 1e-4;

/** initBackend("wasm"), with the cpu backend initialised too: both live in one process; cpu is the reference. */
export async function useWasmWithCpuReference(): Promise<void> {
  const choice = await initBackend("wasm");
  expect(choice.backend).toBe("wasm");
  await tf.setBackend("cpu");
  await tf.setBackend("wasm");
}

/** Seeded uniform values on [-0.5, 0.5). */
export function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() - 0.5;
}

export function randArr(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2;
  return a;
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= maxDiff)) maxDiff = d; // NaN propagates as a failure
    maxRef = Math.max(maxRef, Math.abs(b[i] as number));
  }
  return maxDiff / Math.max(maxRef, 1e-6);
}

export type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];

export interface Case {
  N: number;
  H: number;
  W: number;
  C: number;
  /** out channels (conv) or channel multiplier (depthwise) */
  O: number;
  Kh: number;
  Kw: number;
  s: [number, number];
  pad: Pad;
}

export function outSize(c: Case): [number, number] {
  const info = tf.backend_util.computeConv2DInfo([c.N, c.H, c.W, c.C], [c.Kh, c.Kw, c.C, c.O], c.s, 1, c.pad);
  return [info.outHeight, info.outWidth];
}

export async function onBackend(name: string, f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(name);
  const t = f();
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

export const P = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

export const caseName = (c: Case) =>
  `N${c.N} ${c.H}x${c.W}x${c.C} O${c.O} k${c.Kh}x${c.Kw} s${c.s.join(",")} pad=${JSON.stringify(c.pad)}`;

/** Runs one kernel on cpu and on wasm with identical inputs and returns the relative error. */
export async function compareKernel(
  kernel: string,
  inputs: Record<string, { shape: number[]; data: Float32Array }>,
  attrs: Record<string, unknown>,
): Promise<{ err: number; leakedTensors: number; leakedData: number }> {
  const exec = () => {
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = tf.tensor(v.data, v.shape);
    const out = tf
      .engine()
      .runKernel(kernel, ins as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
    for (const t of Object.values(ins)) t.dispose();
    return out;
  };
  const ref = await onBackend("cpu", exec);
  await tf.setBackend("wasm");
  const tensorsBefore = tf.memory().numTensors;
  const dataBefore = tf.engine().backend.numDataIds();
  const got = await onBackend("wasm", exec);
  const leakedTensors = tf.memory().numTensors - tensorsBefore;
  const leakedData = tf.engine().backend.numDataIds() - dataBefore;
  return { err: relErr(got, ref), leakedTensors, leakedData };
}

export function data(shape: number[], r: () => number) {
  return {
    shape,
    data: randArr(
      shape.reduce((a, b) => a * b, 1),
      r,
    ),
  };
}

/**
 * How many times `f` calls rowGemm on the wasm backend's SIMD instance (the one every kernel shares
 * for that backend's memory): tests of a path switch check that the switch changes the path, not
 * only that both paths agree.
 */
export async function rowGemmCalls(f: () => unknown): Promise<number> {
  const simd = simdFor(tf.findBackend("wasm") as unknown as WasmBackendLike) as SimdKernels;
  const rowGemm = simd.rowGemm;
  let calls = 0;
  simd.rowGemm = ((...args: Parameters<typeof rowGemm>) => {
    calls++;
    return rowGemm(...args);
  }) as typeof rowGemm;
  try {
    await f();
    return calls;
  } finally {
    simd.rowGemm = rowGemm;
  }
}
