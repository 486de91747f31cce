import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildModel } from "../../models/build.js";
import { forwardGeometry } from "./convGeometry.js";
import { useForwardGemm } from "./fusedConv2d.js";
import { DEFAULT_WASM_KERNEL_OPTIONS, type WasmKernelOptions } from "./options.js";
import { setWasmKernelOptions } from "./setWasmKernelOptions.js";
import {
  type Case,
  caseName,
  compareKernel,
  data,
  onBackend,
  P,
  relErr,
  rng,
  rowGemmCalls,
  TOL,
  useWasmWithCpuReference,
} from "./testing/parity.js";

// ResNet-18's many-channel convolutions of small maps (layer2-4 at 64 px) and what varies around
// them: a batch that is not a multiple of 4 (the packed rows' tail), an odd number of 4-channel
// output groups (the GEMM's 4-column tail), stride 2 'same' on an even and an odd map, pre-padded
// stride-2 'valid', explicit padding, a 5x5 filter.
const routed: Case[] = [
  { N: 2, H: 8, W: 8, C: 128, O: 128, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 3, H: 4, W: 4, C: 256, O: 256, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 5, H: 2, W: 2, C: 512, O: 512, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 4, H: 4, W: 4, C: 256, O: 516, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 2, H: 7, W: 7, C: 96, O: 100, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 2, H: 10, W: 10, C: 128, O: 256, Kh: 3, Kw: 3, s: [2, 2], pad: "valid" },
  { N: 1, H: 5, W: 6, C: 64, O: 132, Kh: 3, Kw: 3, s: [2, 2], pad: P(1, 2, 0, 1) },
  { N: 1, H: 6, W: 5, C: 128, O: 68, Kh: 5, Kw: 5, s: [1, 1], pad: "same" },
];

// MobileNetV2's full convolutions (its 3->32 stem and 1x1 stride-1 expansions / projections), 1x1
// stride-2 shortcuts, and shapes past the thresholds: these must stay on XNNPACK.
const notRouted: Case[] = [
  { N: 2, H: 8, W: 8, C: 128, O: 256, Kh: 1, Kw: 1, s: [2, 2], pad: "valid" },
  { N: 2, H: 32, W: 32, C: 3, O: 32, Kh: 3, Kw: 3, s: [2, 2], pad: "same" },
  { N: 2, H: 2, W: 2, C: 320, O: 1280, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
  { N: 2, H: 4, W: 4, C: 160, O: 960, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
  { N: 1, H: 16, W: 16, C: 128, O: 128, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 8, W: 8, C: 64, O: 64, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
  { N: 2, H: 4, W: 4, C: 130, O: 256, Kh: 3, Kw: 3, s: [1, 1], pad: "same" },
];

function geometryOf(c: Case) {
  const x = { shape: [c.N, c.H, c.W, c.C], dtype: "float32" } as unknown as tf.TensorInfo;
  const f = { shape: [c.Kh, c.Kw, c.C, c.O], dtype: "float32" } as unknown as tf.TensorInfo;
  return forwardGeometry("FusedConv2D", x, f, { strides: c.s, pad: c.pad }, false);
}

type Operands = Record<string, { shape: number[]; data: Float32Array }>;

/** x and filter of case c (and a bias unless linear), seeded; the attributes of that FusedConv2D. */
function operandsOf(c: Case, seed: number, activation: "relu" | "linear" | "relu6") {
  const r = rng(seed);
  const inputs: Operands = {
    x: data([c.N, c.H, c.W, c.C], r),
    filter: data([c.Kh, c.Kw, c.C, c.O], r),
  };
  if (activation !== "linear") inputs.bias = data([c.O], r);
  const attrs = { strides: c.s, pad: c.pad, dataFormat: "NHWC", dilations: [1, 1], activation };
  return { inputs, attrs };
}

/** One FusedConv2D call on the wasm backend, its values. */
function runFusedConv2D(inputs: Operands, attrs: object): Promise<Float32Array> {
  return onBackend("wasm", () => {
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = tf.tensor(v.data, v.shape);
    const out = tf.engine().runKernel("FusedConv2D", ins as tf.NamedTensorMap, attrs as never) as tf.Tensor;
    tf.dispose(Object.values(ins));
    return out;
  });
}

beforeAll(async () => {
  await useWasmWithCpuReference();
});

afterEach(() => {
  setWasmKernelOptions({ forwardGemmMaxMap: DEFAULT_WASM_KERNEL_OPTIONS.forwardGemmMaxMap });
});

describe("FusedConv2D on wasm: the tap GEMM for many channels on small maps", () => {
  it("routes ResNet-18's small-map convolutions and none of MobileNetV2's", () => {
    for (const c of routed) expect(useForwardGemm(geometryOf(c)), caseName(c)).toBe(true);
    for (const c of notRouted) expect(useForwardGemm(geometryOf(c)), caseName(c)).toBe(false);
    setWasmKernelOptions({ forwardGemmMaxMap: 0 });
    for (const c of routed) expect(useForwardGemm(geometryOf(c)), caseName(c)).toBe(false);
  });

  for (const [i, c] of routed.entries()) {
    for (const activation of ["relu", "linear", "relu6"] as const) {
      it(`${caseName(c)} ${activation}${activation === "linear" ? " no bias" : " + bias"}: matches cpu and XNNPACK`, async () => {
        const { inputs, attrs } = operandsOf(c, 100 + i, activation);
        const gemm = await compareKernel("FusedConv2D", inputs, attrs);
        expect(gemm.err).toBeLessThan(TOL);
        expect(gemm.leakedTensors).toBe(0);
        expect(gemm.leakedData).toBe(0);
        const ours = await runFusedConv2D(inputs, attrs);
        setWasmKernelOptions({ forwardGemmMaxMap: 0 });
        const xnnpack = await runFusedConv2D(inputs, attrs);
        expect(relErr(ours, xnnpack)).toBeLessThan(TOL);
        if (activation !== "linear") expect(Math.min(...ours)).toBe(0);
        if (activation === "relu6") expect(Math.max(...ours)).toBeLessThanOrEqual(6);
      });
    }
  }

  it("an activation it does not apply itself (elu) goes to the shipped kernel, still correct", async () => {
    const c = routed[1] as Case;
    const r = rng(7);
    const res = await compareKernel(
      "FusedConv2D",
      { x: data([c.N, c.H, c.W, c.C], r), filter: data([c.Kh, c.Kw, c.C, c.O], r), bias: data([c.O], r) },
      { strides: c.s, pad: c.pad, dataFormat: "NHWC", dilations: [1, 1], activation: "elu" },
    );
    expect(res.err).toBeLessThan(TOL);
  });

  it("a ResNet-like block's gradients (w.r.t. input, filters, biases) match the cpu backend's", async () => {
    // two 3x3 convs of a 4x4x128 map with bias + relu: forward on the tap GEMM, stride-1 input
    // gradients on it too, filter gradients on packedGemm
    const r = rng(42);
    const x = data([5, 4, 4, 128], r);
    const w1 = data([3, 3, 128, 128], r);
    const w2 = data([3, 3, 128, 132], r);
    const b1 = data([128], r);
    const b2 = data([132], r);
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const ts = [x, w1, b1, w2, b2].map((v) => tf.tensor(v.data, v.shape));
      const f = (...a: tf.Tensor[]) => {
        const [xi, k1, c1, k2, c2] = a as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor4D, tf.Tensor1D];
        const h = tf.fused.conv2d({
          x: xi,
          filter: k1,
          strides: 1,
          pad: "same",
          bias: c1,
          activation: "relu",
        });
        const y = tf.fused.conv2d({
          x: h,
          filter: k2,
          strides: 1,
          pad: "same",
          bias: c2,
          activation: "relu",
        });
        return tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape))));
      };
      const gs = tf.grads(f)(ts);
      const out = await Promise.all(gs.map((g) => g.data() as Promise<Float32Array>));
      tf.dispose([...ts, ...gs]);
      return out;
    };
    const cpu = await grads("cpu");
    const wasm = await grads("wasm");
    expect(
      useForwardGemm(geometryOf({ N: 5, H: 4, W: 4, C: 128, O: 132, Kh: 3, Kw: 3, s: [1, 1], pad: "same" })),
    ).toBe(true);
    for (const [i, g] of wasm.entries())
      expect(relErr(g, cpu[i] as Float32Array), `gradient ${i}`).toBeLessThan(TOL);
  });

  it("leaves MobileNetV2 (0.35, 64 px, the learning test's model) bit for bit as it was: a training step's gradients with the new paths on and off", async () => {
    await tf.setBackend("wasm");
    const { model } = await buildModel({
      arch: "mobilenet_v2",
      widthMultiplier: 0.35,
      imageSize: 64,
      numClasses: 3,
      dropout: 0,
      seed: 7,
      headUnits: [],
    });
    const r = rng(3);
    const x = tf.tensor(data([8, 64, 64, 3], r).data, [8, 64, 64, 3]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], "int32"), 3);
    const gradients = (change: Partial<WasmKernelOptions>) => {
      const before = setWasmKernelOptions(change);
      const { value, grads } = tf.variableGrads(() =>
        tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
      );
      const out = Object.values(grads).map((g) => g.dataSync().slice() as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      setWasmKernelOptions(before);
      return out;
    };
    const on = gradients({});
    const off = gradients({ fma: false, forwardGemmMaxMap: 0 });
    expect(on.length).toBeGreaterThan(100);
    for (const [i, g] of on.entries()) expect(g).toEqual(off[i]);
    tf.dispose([x, y]);
    model.dispose();
  }, 120_000);
});

// 1x1 stride-1 convolutions (MobileNetV2's expansions and projections) on rowGemm: pixel counts
// that are not a multiple of 4 (the 1-row tail) or below 4, odd numbers of 4-channel output groups
// (the 4-column tail), input channels that are not a multiple of 4, explicit zero padding.
const pointwise: Case[] = [
  { N: 1, H: 7, W: 7, C: 12, O: 20, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
  { N: 2, H: 5, W: 3, C: 6, O: 8, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
  { N: 3, H: 4, W: 4, C: 96, O: 24, Kh: 1, Kw: 1, s: [1, 1], pad: "same" },
  { N: 1, H: 2, W: 2, C: 320, O: 1280, Kh: 1, Kw: 1, s: [1, 1], pad: "valid" },
  { N: 1, H: 1, W: 3, C: 8, O: 4, Kh: 1, Kw: 1, s: [1, 1], pad: P(0, 0, 0, 0) },
];

describe("FusedConv2D on wasm: 1x1 stride-1 convolutions on rowGemm", () => {
  afterEach(() => {
    setWasmKernelOptions({ pointwiseForwardGemm: true });
  });

  const runWith = (path: "auto" | "xnnpack", inputs: Operands, attrs: object) => {
    setWasmKernelOptions({ pointwiseForwardGemm: path === "auto" });
    return runFusedConv2D(inputs, attrs);
  };

  for (const [i, c] of pointwise.entries()) {
    for (const activation of ["relu", "linear", "relu6"] as const) {
      it(`${caseName(c)} ${activation}${activation === "linear" ? " no bias" : " + bias"}: matches cpu, and XNNPACK bit for bit`, async () => {
        const { inputs, attrs } = operandsOf(c, 300 + i, activation);
        const res = await compareKernel("FusedConv2D", inputs, attrs);
        expect(res.err).toBeLessThan(TOL);
        expect(res.leakedTensors).toBe(0);
        expect(res.leakedData).toBe(0);
        const ours = await runWith("auto", inputs, attrs);
        const xnnpack = await runWith("xnnpack", inputs, attrs);
        expect(ours).toEqual(xnnpack);
        if (activation !== "linear") expect(Math.min(...ours)).toBe(0);
        if (activation === "relu6") expect(Math.max(...ours)).toBeLessThanOrEqual(6);
      });
    }
  }

  it("pointwiseForwardGemm picks the path: rowGemm when true, none of its calls when false", async () => {
    const { inputs, attrs } = operandsOf(pointwise[2] as Case, 17, "relu6");
    const counted = (path: "auto" | "xnnpack") => rowGemmCalls(() => runWith(path, inputs, attrs));
    expect(await counted("auto")).toBeGreaterThan(0);
    expect(await counted("xnnpack")).toBe(0);
  });

  it("NaN and infinite inputs give XNNPACK's values (NaN stays NaN under linear and relu, 0 under relu6)", async () => {
    const c = pointwise[0] as Case;
    const r = rng(9);
    const x = data([c.N, c.H, c.W, c.C], r);
    x.data[5] = Number.NaN;
    x.data[40] = Number.POSITIVE_INFINITY;
    x.data[77] = Number.NEGATIVE_INFINITY;
    for (const activation of ["linear", "relu", "relu6"] as const) {
      const inputs = { x, filter: data([1, 1, c.C, c.O], r), bias: data([c.O], r) };
      const attrs = { strides: c.s, pad: c.pad, dataFormat: "NHWC", dilations: [1, 1], activation };
      const ours = await runWith("auto", inputs, attrs);
      const xnnpack = await runWith("xnnpack", inputs, attrs);
      if (activation !== "relu6") expect(ours.some(Number.isNaN), activation).toBe(true);
      expect(ours, activation).toEqual(xnnpack);
    }
  });
});
