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
