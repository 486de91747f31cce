/**
 * Every new wasm kernel is checked against the cpu backend's kernel of the
 * same name on the same data. Error norm used throughout:
 *   rel = max_i |wasm_i - cpu_i| / max(max_i |cpu_i|, 1e-6)
 * i.e. the worst absolute deviation relative to the largest reference
 * magnitude (an elementwise relative error would be meaningless for entries
 * that cancel to ~0). Tolerance 1e-4.
 */
import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./initBackend.js";
import {
  clearWasmFilterCache,
  registerWasmGradKernels,
  setWasmFilterCache,
  setWasmGradSimd,
  wasmGradKernelConfigs,
} from "./wasmGradKernels.js";

const TOL = 1e-4;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function randArr(n: number, r: () => number): Float32Array {
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

type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
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

function outSize(c: Case): [number, number] {
  const info = tf.backend_util.computeConv2DInfo([c.N, c.H, c.W, c.C], [c.Kh, c.Kw, c.C, c.O], c.s, 1, c.pad);
  return [info.outHeight, info.outWidth];
}

async function onBackend(name: string, f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(name);
  const t = f();
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

const P = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

// Odd spatial sizes, stride 1/2 (and mixed), kernels 1/3/5/7 (and even /
// non-square), 'same' / 'valid' / explicit padding.
const convCases: Case[] = [
  { N: 2, H: 9, W: 9, C: 3, O: 4, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 9, W: 9, C: 3, O: 4, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 2, H: 10, W: 10, C: 3, O: 4, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 1, H: 11, W: 7, C: 5, O: 6, Kh: 5, Kw: 5, s: [2, 2], pad: "valid" },
  { N: 1, H: 12, W: 12, C: 5, O: 3, Kh: 5, Kw: 5, s: [1, 1], pad: "valid" },
  { N: 2, H: 8, W: 8, C: 6, O: 3, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
  { N: 2, H: 7, W: 9, C: 3, O: 5, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
  { N: 2, H: 7, W: 9, C: 3, O: 5, Kh: 1, Kw: 1, s: [2, 2], pad: "valid" },
  { N: 1, H: 13, W: 13, C: 2, O: 3, Kh: 7, Kw: 7, s: [2, 2], pad: "same" },
  { N: 1, H: 10, W: 11, C: 3, O: 2, Kh: 7, Kw: 7, s: [1, 1], pad: "valid" },
  { N: 1, H: 9, W: 8, C: 3, O: 4, Kh: 3, Kw: 3, s: [2, 2], pad: P(1, 2, 0, 1) },
  { N: 1, H: 6, W: 6, C: 2, O: 2, Kh: 3, Kw: 3, s: [1, 1], pad: P(2, 0, 1, 1) },
  { N: 1, H: 9, W: 10, C: 3, O: 2, Kh: 2, Kw: 4, s: [1, 2], pad: "same" },
  { N: 3, H: 5, W: 5, C: 4, O: 4, Kh: 3, Kw: 3, s: [2, 2], pad: "valid" },
  // 1x1: SIMD rank-1 path over several pixel chunks and group tails ...
  { N: 2, H: 17, W: 16, C: 7, O: 37, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
  // ... and the GEMM path (filter too large for the cache-resident kernel), both operand orders
  { N: 1, H: 3, W: 2, C: 260, O: 260, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
  { N: 1, H: 2, W: 3, C: 300, O: 230, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
  // 1x1 input gradients with 8-64 input channels: one conv with the transposed filter
  { N: 2, H: 9, W: 7, C: 16, O: 24, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
  { N: 2, H: 9, W: 7, C: 8, O: 5, Kh: 1, Kw: 1, s: [2, 2], pad: "valid" },
  { N: 1, H: 5, W: 6, C: 40, O: 33, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
];

const dwCases: Case[] = [
  { N: 2, H: 9, W: 9, C: 5, O: 1, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 9, W: 9, C: 5, O: 1, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 2, H: 10, W: 10, C: 4, O: 1, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 1, H: 11, W: 7, C: 3, O: 1, Kh: 5, Kw: 5, s: [2, 2], pad: "valid" },
  { N: 1, H: 12, W: 12, C: 3, O: 1, Kh: 5, Kw: 5, s: [1, 1], pad: "valid" },
  { N: 2, H: 7, W: 9, C: 6, O: 1, Kh: 1, Kw: 1, s: [2, 2], pad: "valid" },
  { N: 1, H: 13, W: 13, C: 2, O: 1, Kh: 7, Kw: 7, s: [2, 2], pad: "same" },
  { N: 1, H: 10, W: 11, C: 3, O: 1, Kh: 7, Kw: 7, s: [1, 1], pad: "valid" },
  { N: 1, H: 9, W: 8, C: 3, O: 1, Kh: 3, Kw: 3, s: [2, 2], pad: P(1, 2, 0, 1) },
  { N: 2, H: 9, W: 9, C: 3, O: 2, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 1, H: 11, W: 9, C: 2, O: 3, Kh: 5, Kw: 5, s: [2, 2], pad: "valid" },
  // channel counts exercising the SIMD kernel's 16-wide, 4-wide and scalar tails
  { N: 2, H: 7, W: 6, C: 37, O: 1, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 1, H: 8, W: 9, C: 20, O: 1, Kh: 5, Kw: 5, s: [1, 1], pad: "same" },
];

const name = (c: Case) =>
  `N${c.N} ${c.H}x${c.W}x${c.C} O${c.O} k${c.Kh}x${c.Kw} s${c.s.join(",")} pad=${JSON.stringify(c.pad)}`;

/** Runs one kernel on cpu and on wasm with identical inputs and returns the relative error. */
async function compareKernel(
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

function data(shape: number[], r: () => number) {
  return {
    shape,
    data: randArr(
      shape.reduce((a, b) => a * b, 1),
      r,
    ),
  };
}

afterEach(() => setWasmGradSimd(true));

beforeAll(async () => {
  const choice = await initBackend("wasm");
  expect(choice.backend).toBe("wasm");
  // both backends live in one process; cpu is the reference
  await tf.setBackend("cpu");
  await tf.setBackend("wasm");
});

describe("wasm gradient kernels vs cpu", () => {
  it("are registered for wasm and registration is idempotent", () => {
    registerWasmGradKernels();
    registerWasmGradKernels();
    for (const cfg of wasmGradKernelConfigs) {
      expect(tf.getKernel(cfg.kernelName, "wasm")?.kernelFunc).toBe(cfg.kernelFunc);
    }
  });

  for (const [i, c] of convCases.entries()) {
    // without SIMD the filter gradient takes the im2col-GEMM or convolution-trick path
    for (const simd of [true, false]) {
      it(`Conv2DBackpropFilter ${name(c)}${simd ? "" : " [no-simd fallback]"}`, async () => {
        setWasmGradSimd(simd);
        const r = rng(100 + i);
        const [Ho, Wo] = outSize(c);
        const res = await compareKernel(
          "Conv2DBackpropFilter",
          { x: data([c.N, c.H, c.W, c.C], r), dy: data([c.N, Ho, Wo, c.O], r) },
          { strides: c.s, pad: c.pad, dataFormat: "NHWC", filterShape: [c.Kh, c.Kw, c.C, c.O] },
        );
        expect(res.err).toBeLessThan(TOL);
        expect(res.leakedTensors).toBe(0);
        expect(res.leakedData).toBe(0);
      });
    }
    it(`Conv2DBackpropInput ${name(c)}`, async () => {
      const r = rng(200 + i);
      const [Ho, Wo] = outSize(c);
      const res = await compareKernel(
        "Conv2DBackpropInput",
        { dy: data([c.N, Ho, Wo, c.O], r), filter: data([c.Kh, c.Kw, c.C, c.O], r) },
        { strides: c.s, pad: c.pad, dataFormat: "NHWC", inputShape: [c.N, c.H, c.W, c.C] },
      );
      expect(res.err).toBeLessThan(TOL);
      expect(res.leakedTensors).toBe(0);
      expect(res.leakedData).toBe(0);
    });
  }

  // Depthwise kernels have a SIMD path and a fallback (XNNPACK phases / JS
  // loops) for runtimes without wasm SIMD; both must match.
  for (const [i, c] of dwCases.flatMap((c) => [true, false].map((simd) => ({ ...c, simd }))).entries()) {
    const tag = c.simd ? "" : " [no-simd fallback]";
    it(`DepthwiseConv2dNativeBackpropFilter ${name(c)}${tag}`, async () => {
      setWasmGradSimd(c.simd);
      const r = rng(300 + i);
      const [Ho, Wo] = outSize(c);
      const res = await compareKernel(
        "DepthwiseConv2dNativeBackpropFilter",
        { x: data([c.N, c.H, c.W, c.C], r), dy: data([c.N, Ho, Wo, c.C * c.O], r) },
        { strides: c.s, pad: c.pad, dilations: [1, 1], filterShape: [c.Kh, c.Kw, c.C, c.O] },
      );
      expect(res.err).toBeLessThan(TOL);
      expect(res.leakedTensors).toBe(0);
      expect(res.leakedData).toBe(0);
    });
    it(`DepthwiseConv2dNativeBackpropInput ${name(c)}${tag}`, async () => {
      setWasmGradSimd(c.simd);
      const r = rng(400 + i);
      const [Ho, Wo] = outSize(c);
      const res = await compareKernel(
        "DepthwiseConv2dNativeBackpropInput",
        { dy: data([c.N, Ho, Wo, c.C * c.O], r), filter: data([c.Kh, c.Kw, c.C, c.O], r) },
        { strides: c.s, pad: c.pad, dilations: [1, 1], inputShape: [c.N, c.H, c.W, c.C] },
      );
      expect(res.err).toBeLessThan(TOL);
      expect(res.leakedTensors).toBe(0);
      expect(res.leakedData).toBe(0);
    });
  }

  const tileCases: Array<{ shape: number[]; reps: number[]; dtype: "float32" | "int32" | "bool" }> = [
    { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1], dtype: "float32" }, // the batch-norm gradient's use
    { shape: [2, 3], reps: [3, 2], dtype: "float32" },
    { shape: [2, 1, 3], reps: [1, 4, 1], dtype: "int32" },
    { shape: [3, 2, 2], reps: [2, 1, 3], dtype: "bool" },
    { shape: [7], reps: [5], dtype: "float32" },
    { shape: [2, 3, 1, 4], reps: [1, 1, 1, 1], dtype: "float32" },
    { shape: [2, 0], reps: [2, 3], dtype: "float32" },
  ];
  for (const [i, c] of tileCases.entries()) {
    it(`Tile ${c.dtype} [${c.shape}] x [${c.reps}]`, async () => {
      const r = rng(500 + i);
      const n = c.shape.reduce((a, b) => a * b, 1);
      const vals = Array.from({ length: n }, () =>
        c.dtype === "bool" ? Number(r() > 0) : Math.round(r() * 100),
      );
      const exec = () => {
        const t = tf.tensor(vals, c.shape, c.dtype);
        const out = tf.engine().runKernel("Tile", { x: t }, { reps: c.reps }) as tf.Tensor;
        t.dispose();
        return out;
      };
      await tf.setBackend("cpu");
      const ref = exec();
      const refVals = Array.from(await ref.data());
      const refShape = ref.shape;
      ref.dispose();
      await tf.setBackend("wasm");
      const dataBefore = tf.engine().backend.numDataIds();
      const got = exec();
      expect(got.shape).toEqual(refShape);
      expect(got.dtype).toBe(c.dtype);
      expect(Array.from(await got.data())).toEqual(refVals);
      got.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    });
  }

  const reduceCases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean; dtype?: "int32" }> =
    [
      { shape: [4, 5, 6, 7], axis: [0, 1, 2], keepDims: false }, // batch-norm moments/gradients
      { shape: [4, 5, 6, 37], axis: [0, 1, 2], keepDims: true },
      { shape: [2, 300, 9], axis: [0, 1], keepDims: false }, // more rows than one chunk
      { shape: [3, 4, 16], axis: [-3, -2], keepDims: false },
      { shape: [6, 10], axis: 0, keepDims: false },
      { shape: [3, 4, 5], axis: [1, 2], keepDims: false }, // not leading: shipped kernel
      { shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false }, // all axes: shipped kernel
      { shape: [3, 4, 5], axis: [0, 1], keepDims: false, dtype: "int32" },
    ];
  for (const kernel of ["Sum", "Mean"] as const) {
    for (const [i, c] of reduceCases.entries()) {
      it(`${kernel} [${c.shape}] axis=${JSON.stringify(c.axis)} keepDims=${c.keepDims}${c.dtype ? ` ${c.dtype}` : ""}`, async () => {
        const r = rng(600 + i);
        const n = c.shape.reduce((a, b) => a * b, 1);
        const vals = Array.from({ length: n }, () => (c.dtype ? Math.round(r() * 50) : r() * 4 + 1));
        const exec = () => {
          const t = tf.tensor(vals, c.shape, c.dtype ?? "float32");
          const out = tf
            .engine()
            .runKernel(kernel, { x: t }, { axis: c.axis, keepDims: c.keepDims }) as tf.Tensor;
          t.dispose();
          return out;
        };
        await tf.setBackend("cpu");
        const ref = exec();
        const refVals = (await ref.data()) as Float32Array;
        const refShape = ref.shape;
        ref.dispose();
        await tf.setBackend("wasm");
        const dataBefore = tf.engine().backend.numDataIds();
        const got = exec();
        expect(got.shape).toEqual(refShape);
        expect(relErr((await got.data()) as Float32Array, refVals)).toBeLessThan(1e-5);
        got.dispose();
        expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
      });
    }
  }

  // [shape a, shape b]; the last pair needs real broadcasting (shipped kernel)
  const binShapes: Array<[number[], number[]]> = [
    [
      [2, 3, 4],
      [2, 3, 4],
    ],
    [[2, 3, 4], []],
    [[], [5, 2]],
    [
      [4, 5],
      [1, 1],
    ],
    [
      [2, 1],
      [1, 3],
    ],
  ];
  for (const kernel of ["GreaterEqual", "LessEqual", "LogicalAnd", "Select"] as const) {
    for (const [i, [sa, sb]] of binShapes.entries()) {
      for (const dtype of kernel === "LogicalAnd" ? (["bool"] as const) : (["float32", "int32"] as const)) {
        if (kernel === "Select" && i > 0) continue;
        it(`${kernel} ${dtype} [${sa}] vs [${sb}]`, async () => {
          const r = rng(700 + i);
          // few distinct values so that equality (the >= / <= boundary) occurs
          const gen = (shape: number[]) =>
            Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () =>
              dtype === "bool" ? Number(r() > 0) : Math.round(r() * 4),
            );
          const va = gen(sa);
          const vb = gen(sb);
          const vc = gen(sa).map((v) => Number(v > 0));
          const exec = () => {
            const a = tf.tensor(va, sa, dtype);
            const b = tf.tensor(vb, sb, dtype);
            const cond = tf.tensor(vc, sa, "bool");
            const out = (
              kernel === "Select"
                ? tf.engine().runKernel(kernel, { condition: cond, t: a, e: b })
                : tf.engine().runKernel(kernel, { a, b })
            ) as tf.Tensor;
            tf.dispose([a, b, cond]);
            return out;
          };
          await tf.setBackend("cpu");
          const ref = exec();
          const refVals = Array.from(await ref.data());
          const refMeta = [ref.shape, ref.dtype];
          ref.dispose();
          await tf.setBackend("wasm");
          const dataBefore = tf.engine().backend.numDataIds();
          const got = exec();
          expect([got.shape, got.dtype]).toEqual(refMeta);
          expect(Array.from(await got.data())).toEqual(refVals);
          got.dispose();
          expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
        });
      }
    }
  }

  it("reject dilation > 1 with a clear message", async () => {
    await tf.setBackend("wasm");
    const r = rng(7);
    const x = tf.tensor(randArr(2 * 7 * 7 * 2, r), [2, 7, 7, 2]);
    const dy = tf.tensor(randArr(2 * 7 * 7 * 3, r), [2, 7, 7, 3]);
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        dilations: 2,
        filterShape: [3, 3, 2, 3],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/dilation 1/);
    expect(() =>
      tf.engine().runKernel("DepthwiseConv2dNativeBackpropFilter", { x, dy: x }, {
        strides: 1,
        pad: "same",
        dilations: [2, 2],
        filterShape: [3, 3, 2, 1],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/dilation 1/);
    tf.dispose([x, dy]);
  });
});

// --- end to end: tf.layers model ---------------------------------------------

function buildNet(): tf.LayersModel {
  // Same seeds on every call so cpu and wasm start from identical weights.
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [11, 11, 3],
      filters: 6,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      // A bias straight before batch norm has an exactly-zero true gradient,
      // so comparing its rounding noise would be meaningless: MobileNet-style, no bias.
      useBias: false,
      kernelInitializer: init(1),
    }),
  );
  m.add(tf.layers.batchNormalization({}));
  m.add(tf.layers.reLU({ maxValue: 6 }));
  m.add(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      padding: "same",
      depthwiseInitializer: init(2),
      useBias: false,
    }),
  );
  m.add(tf.layers.batchNormalization({}));
  m.add(tf.layers.reLU({ maxValue: 6 }));
  m.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 1,
      activation: "relu",
      kernelInitializer: init(3),
      useBias: true,
    }),
  );
  m.add(
    tf.layers.depthwiseConv2d({ kernelSize: 5, strides: 2, padding: "valid", depthwiseInitializer: init(4) }),
  );
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(5) }));
  return m;
}

describe("tf.layers conv net gradients on wasm match cpu", () => {
  const r = rng(2024);
  const xData = randArr(4 * 11 * 11 * 3, r);
  const yData = new Float32Array(4 * 3);
  for (let i = 0; i < 4; i++) yData[i * 3 + (i % 3)] = 1;

  async function gradsOn(backendName: string) {
    await tf.setBackend(backendName);
    const model = buildNet();
    const x = tf.tensor4d(xData, [4, 11, 11, 3]);
    const y = tf.tensor2d(yData, [4, 3]);
    const lossOf = (input: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(y, model.apply(input, { training: true }) as tf.Tensor) as tf.Scalar;
    const { grads } = tf.variableGrads(() => lossOf(x));
    // layer names carry a global counter, so pair gradients with weights by build order
    const weights: Float32Array[] = [];
    for (const w of model.trainableWeights) {
      const g = grads[w.name];
      if (!g) throw new Error(`no gradient for ${w.name}`);
      weights.push((await g.data()) as Float32Array);
    }
    const dx = tf.grad((inp: tf.Tensor) => lossOf(inp))(x);
    const dxData = (await dx.data()) as Float32Array;
    tf.dispose([x, y, dx, ...Object.values(grads)]);
    model.dispose();
    return { weights, dx: dxData };
  }

  it("gradient w.r.t. weights and w.r.t. input", async () => {
    await tf.setBackend("cpu");
    const beforeCpu = tf.memory().numTensors;
    const ref = await gradsOn("cpu");
    const leakCpu = tf.memory().numTensors - beforeCpu;
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const got = await gradsOn("wasm");
    // tf.layers itself keeps a tensor or so alive per model build (seen on cpu
    // too); the wasm path must not add to that.
    expect(tf.memory().numTensors - before).toBe(leakCpu);
    expect(ref.weights.length).toBe(12);
    expect(got.weights.length).toBe(ref.weights.length);
    ref.weights.forEach((w, i) => {
      expect(relErr(got.weights[i] as Float32Array, w), `weight #${i}`).toBeLessThan(TOL);
    });
    expect(relErr(got.dx, ref.dx)).toBeLessThan(TOL);
  });

  it("model.fit runs a step on wasm and changes every trainable weight", async () => {
    await tf.setBackend("wasm");
    const model = buildNet();
    model.compile({ optimizer: tf.train.sgd(0.1), loss: "categoricalCrossentropy" });
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const x = tf.tensor4d(xData, [4, 11, 11, 3]);
    const y = tf.tensor2d(yData, [4, 3]);
    const h = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const loss = h.history.loss?.[0] as number;
    expect(Number.isFinite(loss)).toBe(true);
    model.trainableWeights.forEach((w, i) => {
      const after = w.read().dataSync();
      expect(relErr(after, before[i] as Float32Array), w.name).toBeGreaterThan(0);
    });
    tf.dispose([x, y]);
    model.dispose();
  });
});

// --- explanation-path kernels ---------------------------------------------------

describe("Identity on wasm shares the buffer", () => {
  it("clones without copying and survives the original's disposal", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor([1, -2, 3.5, 4], [2, 2]);
    const dataBefore = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, -2, 3.5, 4]);
    expect(y.shape).toEqual([2, 2]);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(dataBefore - 1);
    // strings still go to the shipped kernel
    const s = tf.tensor(["a", "b"]);
    const sc = tf.clone(s);
    expect(await sc.array()).toEqual(["a", "b"]);
    tf.dispose([s, sc]);
  });
});

describe("Relu / Relu6 / ClipByValue gradients on wasm equal cpu's value for value", () => {
  // kinks (0, 6), signed zeros, NaN, infinities, sizes with and without a < 16 tail
  const special = [0, -0, 6, -6, 1e-30, -1e-30, 5.999999, 6.000001, Number.NaN, Number.POSITIVE_INFINITY, -1];
  const dySpecial = [1, -1, 2, -0.5, 0, -0, Number.NaN, 3, 1, -1, Number.POSITIVE_INFINITY];
  for (const n of [11, 48, 16 * 7 + 5]) {
    for (const simd of [true, false]) {
      for (const op of ["relu", "relu6", "clip"] as const) {
        it(`${op} n=${n}${simd ? "" : " [no-simd fallback]"}`, async () => {
          setWasmGradSimd(simd);
          const r = rng(900 + n);
          const xv = Array.from(
            { length: n },
            (_, i) => (i < special.length ? special[i] : r() * 16) as number,
          );
          const dv = Array.from(
            { length: n },
            (_, i) => (i < dySpecial.length ? dySpecial[i] : r() * 4) as number,
          );
          const f = (x: tf.Tensor) =>
            op === "relu" ? tf.relu(x) : op === "relu6" ? tf.relu6(x) : tf.clipByValue(x, -0.5, 6);
          const exec = async () => {
            const x = tf.tensor(xv, [n]);
            const dy = tf.tensor(dv, [n]);
            const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => f(t))([x], dy);
            const out = {
              value: Array.from(await value.data()),
              dx: Array.from(await (grads[0] as tf.Tensor).data()),
            };
            tf.dispose([x, dy, value, ...grads]);
            return out;
          };
          await tf.setBackend("cpu");
          const ref = await exec();
          await tf.setBackend("wasm");
          const dataBefore = tf.engine().backend.numDataIds();
          const got = await exec();
          expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
          // toEqual tells +0 from -0 and matches NaN with NaN
          expect(got.dx).toEqual(ref.dx);
          // (the forward kernels are the shipped ones; they differ from cpu on NaN only)
          const finite = (v: number[]) => v.filter((_, i) => !Number.isNaN(xv[i]));
          expect(finite(got.value)).toEqual(finite(ref.value));
        });
      }
    }
  }

  // (tfjs-core's own Relu6 and ClipByValue gradients have no second derivative: LessEqual and
  // LogicalAnd have no gradient)
  it("second-order gradients through relu still work", async () => {
    const xv = [-1.5, -0.2, 0.3, 2, 5.5, 7];
    const run = async () => {
      const x = tf.tensor(xv);
      const g2 = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.relu(u), tf.mul(u, u))))(t)),
      )(x);
      const out = Array.from(await g2.data());
      tf.dispose([x, g2]);
      return out;
    };
    await tf.setBackend("cpu");
    const ref = await run();
    await tf.setBackend("wasm");
    const got = await run();
    expect(relErr(got, ref)).toBeLessThan(TOL);
  });
});

describe("cached input-gradient filters", () => {
  it("give the same result cached, uncached and on a cache hit, and go with their filter", async () => {
    await tf.setBackend("wasm");
    const r = rng(4242);
    // a 1x1, a 3x3 stride-1 and a 3x3 stride-2 (phase) input gradient
    const cases: Case[] = [
      { N: 2, H: 6, W: 6, C: 24, O: 40, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
      { N: 2, H: 6, W: 6, C: 72, O: 16, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
      { N: 2, H: 7, W: 7, C: 70, O: 8, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
    ];
    for (const c of cases) {
      const [Ho, Wo] = outSize(c);
      const filter = tf.tensor(randArr(c.Kh * c.Kw * c.C * c.O, r), [c.Kh, c.Kw, c.C, c.O]);
      const dy = tf.tensor(randArr(c.N * Ho * Wo * c.O, r), [c.N, Ho, Wo, c.O]);
      const attrs = { strides: c.s, pad: c.pad, dataFormat: "NHWC", inputShape: [c.N, c.H, c.W, c.C] };
      const run = async () => {
        const t = tf
          .engine()
          .runKernel("Conv2DBackpropInput", { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        const v = (await t.data()) as Float32Array;
        t.dispose();
        return v;
      };
      setWasmFilterCache(false);
      const dataBefore = tf.engine().backend.numDataIds();
      const uncached = await run();
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
      setWasmFilterCache(true);
      const first = await run();
      const cachedData = tf.engine().backend.numDataIds();
      expect(cachedData).toBeGreaterThan(dataBefore);
      const hit = await run();
      expect(tf.engine().backend.numDataIds()).toBe(cachedData);
      expect(Array.from(first)).toEqual(Array.from(uncached));
      expect(Array.from(hit)).toEqual(Array.from(uncached));
      // a clone shares the buffer, so it hits the same entry (what the tape's saved filter does)
      const clone = tf.clone(filter);
      const viaClone = tf
        .engine()
        .runKernel(
          "Conv2DBackpropInput",
          { dy, filter: clone },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor;
      expect(tf.engine().backend.numDataIds()).toBe(cachedData + 1);
      expect(Array.from(await viaClone.data())).toEqual(Array.from(uncached));
      tf.dispose([viaClone, clone]);
      // freeing the filter frees its cached sub-filters
      filter.dispose();
      dy.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore - 2);
    }
    clearWasmFilterCache();
  });
});
