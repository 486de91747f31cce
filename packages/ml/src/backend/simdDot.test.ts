import { existsSync, readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./initBackend.js";
import {
  channelDotFor,
  relaxedSimdSupported,
  type SimdKernels,
  simdKernelsFor,
  type WasmMemory,
} from "./simdDot.js";

interface WasmInternals {
  wasm: { asm: { memory: WasmMemory } };
  dataIdMap: { get(id: object): { memoryOffset: number } };
}

beforeAll(async () => {
  await initBackend("wasm");
});

function kernels(options: { fma?: boolean }): SimdKernels {
  const b = tf.findBackend("wasm") as unknown as WasmInternals;
  const k = simdKernelsFor(b.wasm.asm.memory, options);
  if (!k) throw new Error("SIMD kernel unavailable");
  return k;
}

/**
 * dst (M x dstCols, filled with `init`) += A (M x K) B (K x 4*groups), through packedGemm with A
 * and B packed as it reads them; returns dst.
 */
function runPackedGemm(
  k: SimdKernels,
  A: Float32Array,
  B: Float32Array,
  M: number,
  K: number,
  groups: number,
  dstCols: number,
  init: number,
): Float32Array {
  const b = tf.findBackend("wasm") as unknown as WasmInternals;
  const off = (t: tf.Tensor) => b.dataIdMap.get(t.dataId).memoryOffset;
  const Ncols = groups * 4;
  const ap = new Float32Array(M * K);
  for (let m = 0; m < M; m++)
    for (let j = 0; j < K; j++) ap[((m >> 2) * K + j) * 4 + (m & 3)] = A[m * K + j] as number;
  const bp = new Float32Array(K * Ncols);
  let o = 0;
  for (let q = 0; q + 2 <= groups; q += 2)
    for (let j = 0; j < K; j++) for (let c = 0; c < 8; c++) bp[o++] = B[j * Ncols + q * 4 + c] as number;
  if (groups & 1)
    for (let j = 0; j < K; j++)
      for (let c = 0; c < 4; c++) bp[o++] = B[j * Ncols + (groups - 1) * 4 + c] as number;
  const ta = tf.tensor1d(ap);
  const tb = tf.tensor1d(bp);
  const td = tf.fill([M * dstCols], init);
  k.packedGemm(off(td), off(ta), off(tb), K, M / 4, groups, dstCols * 4);
  const got = td.dataSync() as Float32Array;
  tf.dispose([ta, tb, td]);
  return got;
}

describe("channelDot (wasm SIMD on the tfjs heap)", () => {
  it("compiles against the wasm backend's memory (else the slow JS fallback would be used silently)", () => {
    const b = tf.findBackend("wasm") as unknown as WasmInternals;
    expect(channelDotFor(b.wasm.asm.memory)).not.toBeNull();
  });

  it("matches a float64 reference for strided rows and every group tail", () => {
    const b = tf.findBackend("wasm") as unknown as WasmInternals;
    const dot = channelDotFor(b.wasm.asm.memory);
    if (!dot) throw new Error("SIMD kernel unavailable");
    for (const groups of [1, 3, 4, 5, 9]) {
      const C = groups * 4 + 3; // padding channels the kernel must not touch
      const nPix = 13;
      const xStride = 2 * C; // like stride-2 columns
      const xv = Float32Array.from({ length: nPix * xStride }, (_, i) => Math.sin(i * 0.37));
      const dv = Float32Array.from({ length: nPix * C }, (_, i) => Math.cos(i * 0.11));
      const x = tf.tensor1d(xv);
      const d = tf.tensor1d(dv);
      const out = tf.fill([C], 7);
      const off = (t: tf.Tensor) => b.dataIdMap.get(t.dataId).memoryOffset;
      dot(off(x), off(d), off(out), nPix, groups, xStride * 4, C * 4);
      const got = out.dataSync();
      for (let c = 0; c < C; c++) {
        let ref = 0;
        for (let i = 0; i < nPix; i++) ref += (xv[i * xStride + c] as number) * (dv[i * C + c] as number);
        if (c < groups * 4) expect(Math.abs((got[c] as number) - ref)).toBeLessThan(1e-5);
        else expect(got[c]).toBe(7);
      }
      tf.dispose([x, d, out]);
    }
  });

  it("channelAxpy adds scaled strided rows and leaves tail channels alone", () => {
    const b = tf.findBackend("wasm") as unknown as WasmInternals;
    const k = simdKernelsFor(b.wasm.asm.memory);
    if (!k) throw new Error("SIMD kernel unavailable");
    for (const groups of [1, 2, 4, 6]) {
      const C = groups * 4 + 2;
      const nPix = 11;
      const dstStride = 2 * C;
      const dv = Float32Array.from({ length: nPix * dstStride }, (_, i) => Math.sin(i * 0.21));
      const sv = Float32Array.from({ length: nPix * C }, (_, i) => Math.cos(i * 0.13));
      const wv = Float32Array.from({ length: C }, (_, i) => 0.5 - i * 0.07);
      const dst = tf.tensor1d(dv);
      const src = tf.tensor1d(sv);
      const w = tf.tensor1d(wv);
      const off = (t: tf.Tensor) => b.dataIdMap.get(t.dataId).memoryOffset;
      k.channelAxpy(off(dst), off(src), off(w), nPix, groups, dstStride * 4, C * 4);
      const got = dst.dataSync();
      for (let i = 0; i < dv.length; i++) {
        const pix = Math.floor(i / dstStride);
        const c = i % dstStride;
        const touched = c < groups * 4 && pix < nPix;
        const ref = touched ? (dv[i] as number) + (sv[pix * C + c] as number) * (wv[c] as number) : dv[i];
        expect(Math.abs((got[i] as number) - (ref as number))).toBeLessThan(1e-6);
      }
      tf.dispose([dst, src, w]);
    }
  });

  it("outerAcc accumulates x^T dy over strided pixels into a packed block", () => {
    const b = tf.findBackend("wasm") as unknown as WasmInternals;
    const k = simdKernelsFor(b.wasm.asm.memory);
    if (!k) throw new Error("SIMD kernel unavailable");
    for (const [ci, groups] of [
      [1, 1],
      [5, 5],
      [3, 4],
      [7, 9],
    ] as const) {
      const P = 37;
      const Co = groups * 4 + 1; // a tail column the kernel must ignore
      const xStride = ci + 2;
      const xv = Float32Array.from({ length: P * xStride }, (_, i) => Math.sin(i));
      const dv = Float32Array.from({ length: P * Co }, (_, i) => Math.cos(i * 0.3));
      const x = tf.tensor1d(xv);
      const d = tf.tensor1d(dv);
      const dst = tf.fill([ci * groups * 4], 1);
      const off = (t: tf.Tensor) => b.dataIdMap.get(t.dataId).memoryOffset;
      k.outerAcc(off(dst), off(x), off(d), P, ci, groups, xStride * 4, Co * 4);
      const got = dst.dataSync();
      for (let i = 0; i < ci; i++) {
        for (let g = 0; g < groups * 4; g++) {
          let ref = 1;
          for (let p = 0; p < P; p++) ref += (xv[p * xStride + i] as number) * (dv[p * Co + g] as number);
          expect(Math.abs((got[i * groups * 4 + g] as number) - ref)).toBeLessThan(1e-4);
        }
      }
      tf.dispose([x, d, dst]);
    }
  });

  it("packedGemm accumulates A B into dst for every column tail (pairs of groups and an odd one), fused or not", () => {
    for (const fma of [true, false]) {
      const k = kernels({ fma });
      for (const [M, K, groups] of [
        [4, 1, 1],
        [8, 5, 5],
        [12, 9, 2],
        [4, 3, 7],
      ] as const) {
        const Ncols = groups * 4;
        const dstCols = Ncols + 3; // columns past the last group the kernel must not touch
        const A = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.7));
        const B = Float32Array.from({ length: K * Ncols }, (_, i) => Math.cos(i * 0.3));
        const got = runPackedGemm(k, A, B, M, K, groups, dstCols, 0.5);
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < dstCols; n++) {
            if (n >= Ncols) {
              expect(got[m * dstCols + n]).toBe(0.5);
              continue;
            }
            let ref = 0.5;
            for (let j = 0; j < K; j++) ref += (A[m * K + j] as number) * (B[j * Ncols + n] as number);
            expect(Math.abs((got[m * dstCols + n] as number) - ref)).toBeLessThan(1e-5);
          }
        }
      }
    }
  });

  it("packedGemm uses fused multiply-add where relaxed SIMD is available, and not when told not to", () => {
    // Node 20's V8 has relaxed SIMD behind a flag that simdDot.ts sets; newer runtimes have it on
    expect(relaxedSimdSupported()).toBe(true);
    expect(kernels({}).fusedMultiplyAdd).toBe(true);
    expect(kernels({ fma: false }).fusedMultiplyAdd).toBe(false);
    // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 in float32, so after -(1 + 2^-11) a
    // separate mul and add leave 0 and a fused multiply-add the exact 2^-24. relaxed_madd fuses
    // only where the CPU has FMA (x64: the fma flag), which this machine's has.
    const e = 2 ** -12;
    const A = Float32Array.from([1, 1 + e, 0, 0, 0, 0, 0, 0]); // 4 rows, K = 2
    const B = Float32Array.from([-(1 + 2 * e), 0, 0, 0, 1 + e, 0, 0, 0]); // K = 2, 4 columns
    const hasFma = existsSync("/proc/cpuinfo") && /\bfma\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
    expect(runPackedGemm(kernels({ fma: false }), A, B, 4, 2, 1, 4, 0)[0]).toBe(0);
    expect(runPackedGemm(kernels({}), A, B, 4, 2, 1, 4, 0)[0]).toBe(hasFma ? 2 ** -24 : 0);
  });

  it("packedGemm with fused multiply-add agrees with mul + add and is no further from a float64 reference on long reductions", () => {
    const [M, K, groups] = [8, 1152, 6]; // K as in a 3x3 x 128-channel tap block
    const Ncols = groups * 4;
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 31 - 1;
    };
    const A = Float32Array.from({ length: M * K }, rnd);
    const B = Float32Array.from({ length: K * Ncols }, rnd);
    const fused = runPackedGemm(kernels({}), A, B, M, K, groups, Ncols, 0);
    const plain = runPackedGemm(kernels({ fma: false }), A, B, M, K, groups, Ncols, 0);
    let errFused = 0;
    let errPlain = 0;
    let differ = 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < Ncols; n++) {
        let ref = 0;
        for (let j = 0; j < K; j++) ref += (A[m * K + j] as number) * (B[j * Ncols + n] as number);
        const f = fused[m * Ncols + n] as number;
        const p = plain[m * Ncols + n] as number;
        expect(Math.abs(f - p)).toBeLessThan(1e-4);
        if (f !== p) differ++;
        errFused += Math.abs(f - ref);
        errPlain += Math.abs(p - ref);
      }
    }
    // the sums of errors over all 192 outputs: one rounding per step instead of two
    expect(errFused).toBeLessThanOrEqual(errPlain);
    expect(differ).toBeGreaterThan(0);
  });
});
