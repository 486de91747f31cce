import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { setWasmKernelOptions } from "./setWasmKernelOptions.js";
import {
  type Case,
  caseName,
  compareKernel,
  data,
  outSize,
  P,
  rng,
  TOL,
  useWasmWithCpuReference,
} from "./testing/parity.js";

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

afterEach(() => {
  setWasmKernelOptions({ simd: true });
});

beforeAll(useWasmWithCpuReference);

describe("depthwise gradient kernels on wasm vs cpu", () => {
  // Depthwise kernels have a SIMD path and a fallback (XNNPACK phases / JS
  // loops) for runtimes without wasm SIMD; both must match.
  for (const [i, c] of dwCases.flatMap((c) => [true, false].map((simd) => ({ ...c, simd }))).entries()) {
    const tag = c.simd ? "" : " [no-simd fallback]";
    it(`DepthwiseConv2dNativeBackpropFilter ${caseName(c)}${tag}`, async () => {
      setWasmKernelOptions({ simd: c.simd });
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
    it(`DepthwiseConv2dNativeBackpropInput ${caseName(c)}${tag}`, async () => {
      setWasmKernelOptions({ simd: c.simd });
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
});

describe("DepthwiseConv2dNativeBackpropInput on wasm: the SIMD scatter's arithmetic", () => {
  // The float32 arithmetic of the scatter, in its order: for each image, output row, filter row and
  // column, dx[iy, ix, c] = f32(dx[iy, ix, c] + f32(dy[oy, ox, c] * w[kh, kw, c])) over the output
  // columns whose input column is inside the map. The kernel must give these bits exactly: training
  // trajectories (the learning test's MobileNetV2) depend on them.
  function scatterReference(c: Case, dy: Float32Array, w: Float32Array): Float32Array {
    const g = tf.backend_util.computeConv2DInfo(
      [c.N, c.H, c.W, c.C],
      [c.Kh, c.Kw, c.C, 1],
      c.s,
      1,
      c.pad,
      undefined,
      true,
    );
    const { outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw } = g;
    const { top: pt, left: pl } = g.padInfo;
    const dx = new Float32Array(c.N * c.H * c.W * c.C);
    const f = Math.fround;
    for (let n = 0; n < c.N; n++)
      for (let oy = 0; oy < Ho; oy++)
        for (let kh = 0; kh < c.Kh; kh++) {
          const iy = oy * sh + kh - pt;
          if (iy < 0 || iy >= c.H) continue;
          for (let kw = 0; kw < c.Kw; kw++)
            for (let ox = 0; ox < Wo; ox++) {
              const ix = ox * sw + kw - pl;
              if (ix < 0 || ix >= c.W) continue;
              for (let ch = 0; ch < c.C; ch++) {
                const d = ((n * c.H + iy) * c.W + ix) * c.C + ch;
                const s = ((n * Ho + oy) * Wo + ox) * c.C + ch;
                dx[d] = f(
                  (dx[d] as number) + f((dy[s] as number) * (w[(kh * c.Kw + kw) * c.C + ch] as number)),
                );
              }
            }
        }
    return dx;
  }

  const cases: Case[] = [
    { N: 2, H: 9, W: 9, C: 8, O: 1, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
    { N: 3, H: 10, W: 7, C: 20, O: 1, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
    { N: 1, H: 9, W: 8, C: 12, O: 1, Kh: 3, Kw: 3, s: [2, 2], pad: P(1, 2, 0, 1) },
    { N: 1, H: 8, W: 9, C: 16, O: 1, Kh: 5, Kw: 5, s: [1, 1], pad: "valid" },
  ];
  for (const [i, c] of cases.entries()) {
    it(`${caseName(c)}: the scatter's float32 sums, bit for bit`, async () => {
      await tf.setBackend("wasm");
      const r = rng(500 + i);
      const [Ho, Wo] = outSize(c);
      const dyv = data([c.N, Ho, Wo, c.C], r).data;
      const wv = data([c.Kh, c.Kw, c.C, 1], r).data;
      const dy = tf.tensor4d(dyv, [c.N, Ho, Wo, c.C]);
      const w = tf.tensor4d(wv, [c.Kh, c.Kw, c.C, 1]);
      const dx = tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", { dy, filter: w }, {
        strides: c.s,
        pad: c.pad,
        dilations: [1, 1],
        dataFormat: "NHWC",
        inputShape: [c.N, c.H, c.W, c.C],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(await dx.data()).toEqual(scatterReference(c, dyv, wv));
      tf.dispose([dy, w, dx]);
    });
  }
});
