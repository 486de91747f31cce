import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { clearWasmFilterCache } from "./filterCache.js";
import { setWasmKernelOptions } from "./setWasmKernelOptions.js";
import {
  type Case,
  caseName,
  compareKernel,
  data,
  outSize,
  P,
  randArr,
  rng,
  TOL,
  useWasmWithCpuReference,
} from "./testing/parity.js";

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
  // small maps with many channels (ResNet-18 layer3/4 at 64 px): the packed SIMD GEMM filter
  // gradient (and input gradient: 2x2 maps, and strided convs to at most 4x4); an odd number of channel groups (tail tile), a 'same' stride-2 conv on an odd map,
  // a pre-padded stride-2 'valid' one, a strided 1x1 shortcut, explicit padding, and more pixels
  // than one GEMM pass takes (N*Ho*Wo > 512)
  { N: 2, H: 4, W: 4, C: 256, O: 256, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 2, W: 2, C: 512, O: 512, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 7, W: 7, C: 96, O: 100, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 2, H: 6, W: 6, C: 128, O: 76, Kh: 3, Kw: 3, s: [2, 2], pad: "valid" },
  { N: 2, H: 8, W: 8, C: 128, O: 256, Kh: 1, Kw: 1, s: [2, 2], pad: "valid" },
  { N: 1, H: 5, W: 6, C: 64, O: 132, Kh: 3, Kw: 3, s: [2, 2], pad: P(1, 2, 0, 1) },
  { N: 3, H: 14, W: 14, C: 96, O: 96, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 33, H: 8, W: 8, C: 64, O: 132, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  // stride-1 input gradients of maps up to 8x8 on the forward tap GEMM (fusedConv2d.ts): a batch
  // that is not a multiple of 4, an odd number of channel groups, 'valid' padding
  { N: 3, H: 8, W: 8, C: 132, O: 128, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 6, W: 6, C: 128, O: 96, Kh: 3, Kw: 3, s: [1, 1], pad: "valid" },
];

afterEach(() => {
  setWasmKernelOptions({ simd: true });
});

beforeAll(useWasmWithCpuReference);

describe("Conv2D gradient kernels on wasm vs cpu", () => {
  for (const [i, c] of convCases.entries()) {
    // without SIMD the filter gradient takes the im2col-GEMM or convolution-trick path
    for (const simd of [true, false]) {
      it(`Conv2DBackpropFilter ${caseName(c)}${simd ? "" : " [no-simd fallback]"}`, async () => {
        setWasmKernelOptions({ simd });
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
    it(`Conv2DBackpropInput ${caseName(c)}`, async () => {
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

describe("cached input-gradient filters", () => {
  it("give the same result cached, uncached and on a cache hit, and go with their filter", async () => {
    await tf.setBackend("wasm");
    const r = rng(4242);
    // a 1x1, a 3x3 stride-1 and a 3x3 stride-2 (phase) input gradient, and the packed GEMM's
    const cases: Case[] = [
      { N: 2, H: 6, W: 6, C: 24, O: 40, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
      { N: 2, H: 6, W: 6, C: 72, O: 16, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
      { N: 2, H: 7, W: 7, C: 70, O: 8, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
      { N: 2, H: 2, W: 2, C: 128, O: 96, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
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
      setWasmKernelOptions({ filterCache: false });
      const dataBefore = tf.engine().backend.numDataIds();
      const uncached = await run();
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
      setWasmKernelOptions({ filterCache: true });
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
