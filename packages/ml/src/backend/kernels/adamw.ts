/**
 * One AdamW step of one variable as one kernel (optim/adamw.ts calls it on wasm).
 *
 * tfjs' AdamOptimizer runs 13 elementwise kernels per variable per step (plus AdamW's decay), each
 * reading and writing the whole variable and each a dispatch with its scalar uploads: for
 * ResNet-18 FT at 64 px that was 5% of an epoch in kernels and a good part of its dispatch time.
 * This kernel reads p, m, v and g once and writes p', m' and v' (adamwStep in simdDot.ts), every
 * operation in tfjs' order and rounded to float32 as tfjs rounds it, so the values are bit for
 * bit those of the op-by-op step (adamw.test.ts checks that over many steps).
 */
import * as tf from "@tensorflow/tfjs";
import { f32, heapOffset, simdFor, wasmKernel } from "./wasmKernel.js";

export const ADAMW_KERNEL = "XnnAdamWStep";

/** The step's scalars, each already rounded to float32 where tfjs would round it. */
export interface AdamWStepAttrs {
  /** 1 - lr * wd, or 1 when this variable is not decayed. */
  factor: number;
  beta1: number;
  /** 1 - beta1, as tfjs computes it (in float64, then rounded). */
  c1: number;
  beta2: number;
  c2: number;
  /** 1 - beta1^t (float32). */
  oma1: number;
  oma2: number;
  epsilon: number;
  /** -lr */
  negLr: number;
}

const fr = Math.fround;

export const adamwStepConfig = wasmKernel<"p" | "m" | "v" | "g", AdamWStepAttrs>(
  ADAMW_KERNEL,
  ["p", "m", "v", "g"],
  ({ inputs: { p, m, v, g }, attrs: a, backend }) => {
    for (const t of [m, v, g]) {
      if (t.dtype !== "float32" || p.dtype !== "float32" || !tf.util.arraysEqual(t.shape, p.shape)) {
        throw new Error(
          `${ADAMW_KERNEL}: expects float32 p, m, v, g of one shape, got p ${p.dtype}[${p.shape}], ${t.dtype}[${t.shape}]`,
        );
      }
    }
    const outP = backend.makeOutput(p.shape, "float32");
    const outM = backend.makeOutput(p.shape, "float32");
    const outV = backend.makeOutput(p.shape, "float32");
    const n = tf.util.sizeFromShape(p.shape);
    const k = simdFor(backend);
    let start = 0;
    // The scalars as float32, as the wasm function's f32 parameters receive them.
    const {
      factor,
      beta1: b1,
      c1,
      beta2: b2,
      c2,
      oma1,
      oma2,
      epsilon: eps,
      negLr,
    } = Object.fromEntries(Object.entries(a).map(([key, v]) => [key, fr(v)])) as unknown as AdamWStepAttrs;
    if (k) {
      start = n - (n % 4);
      const [pp, mp, vp, gp, opp, omp, ovp] = [p, m, v, g, outP, outM, outV].map((t) =>
        heapOffset(backend, t),
      );
      k.adamwStep(
        pp!,
        mp!,
        vp!,
        gp!,
        opp!,
        omp!,
        ovp!,
        start / 4,
        factor,
        b1,
        c1,
        b2,
        c2,
        oma1,
        oma2,
        eps,
        negLr,
      );
    }
    // The tail (or everything, without wasm SIMD): the same operations, each rounded to float32.
    const [P, M, V, G, oP, oM, oV] = [p, m, v, g, outP, outM, outV].map((t) =>
      f32(backend, t),
    ) as Float32Array[];
    for (let i = start; i < n; i++) {
      const p1 = fr((P![i] as number) * factor);
      const gi = G![i] as number;
      const mi = fr(fr((M![i] as number) * b1) + fr(gi * c1));
      const vi = fr(fr((V![i] as number) * b2) + fr(fr(gi * gi) * c2));
      oM![i] = mi;
      oV![i] = vi;
      const q = fr(fr(mi / oma1) / fr(fr(Math.sqrt(fr(vi / oma2))) + eps));
      oP![i] = fr(fr(q * negLr) + p1);
    }
    return [outP, outM, outV];
  },
);
