import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { ModelName } from "@xnn/shared";
import { mulberry32 as rng } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, setWasmKernelOptions } from "../backend/index.js";
import { POINTWISE_INPUT_GRAD_KERNEL } from "../backend/kernels/index.js";
import { loadCheckpoint, saveCheckpoint } from "../checkpoint/index.js";
import { buildSmallModel } from "../testing.js";
import { calibrateBatchNorm } from "../train/batchnorm.js";
import { foldBatchNorm, foldBatchNormWithReport, prepareForExplanation, ReLU6 } from "./foldBatchNorm.js";
import { FusedConv } from "./fusedConv.js";
import { withInputGradientsOnly } from "./inputGradientsOnly.js";

/** max |a - b| / max |b|: the worst deviation relative to the largest reference magnitude. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= maxDiff)) maxDiff = d; // NaN propagates as a failure
    maxRef = Math.max(maxRef, Math.abs(b[i] as number));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}

/**
 * Input gradients of a ReLU net are discontinuous where a unit's pre-activation crosses a kink (0,
 * or 6 for ReLU6): any change of float rounding (folding, fusing the bias into the conv, or just
 * cpu vs wasm on the same model: measured 1.7e-2 on one of three MobileNetV2 samples) flips the rare
 * unit that sits within ~1e-7 of one, and that sample's gradient changes by a few %. So gradients
 * are compared per sample: most samples must match to TOL (a wrong rewrite would show in every
 * sample), and none may be off by more than a unit flip does.
 */
function expectGradientsMatch(got: Float32Array, ref: Float32Array, samples: number): void {
  const n = ref.length / samples;
  const errs = Array.from({ length: samples }, (_, k) =>
    relErr(got.subarray(k * n, (k + 1) * n), ref.subarray(k * n, (k + 1) * n)),
  ).sort((a, b) => a - b);
  const exact = errs.filter((e) => e < TOL).length;
  expect(exact, `per-sample errors ${errs}`).toBeGreaterThanOrEqual(Math.ceil(samples / 2));
  expect(errs.at(-1) as number, `per-sample errors ${errs}`).toBeLessThan(0.1);
}

function randomInput(n: number, size: number, seed: number): tf.Tensor4D {
  const r = rng(seed);
  const v = new Float32Array(n * size * size * 3);
  for (let i = 0; i < v.length; i++) v[i] = (r() - 0.5) * 4;
  return tf.tensor4d(v, [n, size, size, 3]);
}

/**
 * Batch norms as after training: moving statistics from real batch statistics (so activations stay
 * in range through a deep net), gamma and beta away from 1 and 0 (so folding has something to do).
 */
async function trainedLikeBatchNorms(model: tf.LayersModel, size: number, seed: number): Promise<void> {
  const x = randomInput(8, size, seed);
  await calibrateBatchNorm(model, [x]);
  const r = rng(seed + 1);
  for (const l of model.layers) {
    if (l.getClassName() !== "BatchNormalization") continue;
    const values = l.getWeights().map((w, i) => {
      const role = l.weights[i]?.originalName.split("/").pop();
      if (role === "gamma")
        return tf.tensor(
          Array.from({ length: w.size }, () => 0.5 + r()),
          w.shape,
        );
      if (role === "beta")
        return tf.tensor(
          Array.from({ length: w.size }, () => r() - 0.5),
          w.shape,
        );
      return w;
    });
    l.setWeights(values);
  }
}

/** Softmax probability of class 0 and its input gradient, as integratedGradients computes them. */
function probAndGrad(model: tf.LayersModel, x: tf.Tensor): { p: Float32Array; g: Float32Array } {
  let p: Float32Array = new Float32Array();
  const g = withInputGradientsOnly(() =>
    tf.grad((xs: tf.Tensor) => {
      const col = tf.softmax(model.apply(xs, { training: false }) as tf.Tensor2D).slice([0, 0], [-1, 1]);
      p = col.dataSync() as Float32Array;
      return col.sum();
    })(x),
  );
  const gv = g.dataSync() as Float32Array;
  g.dispose();
  return { p, g: gv };
}

function logits(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

let tmp: string;

beforeAll(async () => {
  const choice = await initBackend("wasm");
  expect(choice.backend).toBe("wasm");
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "xnn-fold-"));
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const TOL = 1e-4;

describe("foldBatchNorm on the project's architectures", () => {
  const cases: {
    arch: ModelName;
    size: number;
    bns: number;
    pads: number;
    relu6: number;
    convs: number;
    acts: number;
  }[] = [
    { arch: "mobilenet_v2", size: 48, bns: 52, pads: 4, relu6: 35, convs: 52, acts: 35 },
    // at 48 px conv5's input is 3x3, where its symmetric [1, 1] padding is exactly 'same'
    { arch: "resnet18", size: 48, bns: 20, pads: 1, relu6: 0, convs: 20, acts: 9 },
    { arch: "convnext_v2_atto", size: 32, bns: 0, pads: 0, relu6: 0, convs: 16, acts: 0 },
  ];
  for (const c of cases) {
    it(`${c.arch} ${c.size}px: same outputs and input gradients, original untouched`, async () => {
      const { model } = await buildSmallModel({ arch: c.arch, imageSize: c.size, seed: 5 });
      await trainedLikeBatchNorms(model, c.size, 11);
      const x = randomInput(6, c.size, 21);
      const refLogits = logits(model, x);
      const ref = probAndGrad(model, x);
      const weightsBefore = model.getWeights().map((w) => w.dataSync().slice());
      const layersBefore = model.layers.length;

      const tensorsBefore = tf.memory().numTensors;
      const { model: folded, report } = foldBatchNormWithReport(model);
      expect(Object.keys(report.foldedBatchNorms)).toHaveLength(c.bns);
      expect(Object.keys(report.foldedPads)).toHaveLength(c.pads);
      expect(report.relu6Layers).toHaveLength(c.relu6);
      expect(report.fusedConvs).toHaveLength(c.convs);
      expect(Object.keys(report.fusedActivations)).toHaveLength(c.acts);
      expect(folded.layers.filter((l) => l.getClassName() === "BatchNormalization")).toHaveLength(0);
      expect(folded.layers.length).toBe(layersBefore - c.bns - c.pads - c.acts);
      // LayerNorm (ConvNeXt) cannot be folded and stays
      expect(folded.layers.filter((l) => l.getClassName() === "LayerNormalization").length).toBe(
        model.layers.filter((l) => l.getClassName() === "LayerNormalization").length,
      );
      expect(folded.inputs[0]?.shape).toEqual(model.inputs[0]?.shape);
      expect(folded.outputs[0]?.shape).toEqual(model.outputs[0]?.shape);

      const got = probAndGrad(folded, x);
      expect(relErr(logits(folded, x), refLogits)).toBeLessThan(TOL);
      expect(relErr(got.p, ref.p)).toBeLessThan(TOL);
      expectGradientsMatch(got.g, ref.g, 6);
      // the gradient is not trivially zero (a dead net would pass any comparison)
      expect(Math.max(...Array.from(ref.g, Math.abs))).toBeGreaterThan(1e-6);

      folded.dispose();
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      // the original still has its layers and weights and still predicts the same
      expect(model.layers.length).toBe(layersBefore);
      model.getWeights().forEach((w, i) => {
        expect(Array.from(w.dataSync())).toEqual(Array.from(weightsBefore[i] as Float32Array));
      });
      expect(Array.from(logits(model, x))).toEqual(Array.from(refLogits));
      x.dispose();
      model.dispose();
    });
  }

  for (const path of ["gemm", "xnnpack"] as const) {
    it(`mobilenet_v2 48px with every 1x1 input gradient on the ${path} path: same input gradients`, async () => {
      const { model } = await buildSmallModel({ arch: "mobilenet_v2", imageSize: 48, seed: 5 });
      await trainedLikeBatchNorms(model, 48, 11);
      // 7 samples: pixel counts that are not a multiple of 4 (the GEMM's tail block)
      const x = randomInput(7, 48, 23);
      const ref = probAndGrad(model, x);
      const folded = foldBatchNorm(model);
      const previous = setWasmKernelOptions({ pointwiseInputGradGemm: path === "gemm" });
      try {
        const profile = await tf.profile(() => {
          probAndGrad(folded, x);
          return [];
        });
        // the 1x1 convolutions' gradients go through the one kernel, whichever path it takes
        expect(profile.kernels.filter((k) => k.name === POINTWISE_INPUT_GRAD_KERNEL).length).toBeGreaterThan(
          20,
        );
        const got = probAndGrad(folded, x);
        expectGradientsMatch(got.g, ref.g, 7);
      } finally {
        setWasmKernelOptions({ pointwiseInputGradGemm: previous.pointwiseInputGradGemm });
        folded.dispose();
        model.dispose();
        x.dispose();
      }
    });
  }

  it("works on a model loaded from a checkpoint (what explanation runs on)", async () => {
    const { model } = await buildSmallModel({ arch: "mobilenet_v2", seed: 9 });
    await trainedLikeBatchNorms(model, 32, 3);
    const dir = path.join(tmp, "ckpt");
    await saveCheckpoint(model, dir);
    const loaded = await loadCheckpoint(dir);
    const x = randomInput(3, 32, 4);
    const ref = probAndGrad(model, x);
    const folded = prepareForExplanation(loaded);
    expect(folded.layers.some((l) => l.getClassName() === "BatchNormalization")).toBe(false);
    const got = probAndGrad(folded, x);
    expect(relErr(got.p, ref.p)).toBeLessThan(TOL);
    expectGradientsMatch(got.g, ref.g, 3);
    tf.dispose([x]);
    for (const m of [folded, loaded, model]) m.dispose();
  });
});

describe("foldBatchNorm edge cases", () => {
  /**
   * conv(bias) -> BN; dense -> BN; depthwise multiplier 2 -> BN; a conv whose output
   * has two consumers (BN must stay); BN after an add (stays); a conv with an activation (BN stays);
   * a ZeroPadding2D that is not 'same' padding (stays), one that is (folded).
   */
  function edgeModel(): tf.LayersModel {
    const init = (seed: number) => tf.initializers.glorotNormal({ seed });
    const inp = tf.input({ shape: [9, 10, 3] });
    const conv = (
      filters: number,
      o: Partial<{ k: number; s: number; pad: "same" | "valid"; bias: boolean; act: string }>,
      seed: number,
    ) =>
      tf.layers.conv2d({
        filters,
        kernelSize: o.k ?? 3,
        strides: o.s ?? 1,
        padding: o.pad ?? "same",
        useBias: o.bias ?? false,
        activation: (o.act ?? "linear") as "linear",
        kernelInitializer: init(seed),
        biasInitializer: tf.initializers.randomNormal({ seed: seed + 100 }),
      });
    const bn = (o: { center?: boolean; scale?: boolean } = {}) => tf.layers.batchNormalization(o);
    let h = conv(6, { bias: true }, 1).apply(inp) as tf.SymbolicTensor;
    h = bn().apply(h) as tf.SymbolicTensor;
    h = tf.layers.reLU({ maxValue: 6 }).apply(h) as tf.SymbolicTensor;
    // 'same' for stride 2 on 9x10 is [[1,1],[0,1]]: foldable
    h = tf.layers
      .zeroPadding2d({
        padding: [
          [1, 1],
          [0, 1],
        ],
      })
      .apply(h) as tf.SymbolicTensor;
    h = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: 2,
        padding: "valid",
        depthMultiplier: 2,
        depthwiseInitializer: init(2),
      })
      .apply(h) as tf.SymbolicTensor;
    h = bn().apply(h) as tf.SymbolicTensor;
    const shared = conv(12, {}, 3).apply(h) as tf.SymbolicTensor;
    const a = bn().apply(shared) as tf.SymbolicTensor;
    h = tf.layers.add().apply([a, shared]) as tf.SymbolicTensor;
    h = bn().apply(h) as tf.SymbolicTensor;
    h = conv(8, { act: "relu" }, 4).apply(h) as tf.SymbolicTensor;
    h = bn().apply(h) as tf.SymbolicTensor;
    // padding before a stride-2 valid conv that is not what 'same' pads ([1, 1] here): must stay
    h = tf.layers
      .zeroPadding2d({
        padding: [
          [2, 0],
          [1, 1],
        ],
      })
      .apply(h) as tf.SymbolicTensor;
    h = conv(8, { s: 2, pad: "valid" }, 5).apply(h) as tf.SymbolicTensor;
    h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
    h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
    h = tf.layers.dense({ units: 5, kernelInitializer: init(6) }).apply(h) as tf.SymbolicTensor;
    h = bn().apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, kernelInitializer: init(7) }).apply(h) as tf.SymbolicTensor;
    return tf.model({ inputs: inp, outputs: out });
  }

  it("folds exactly the foldable patterns and keeps the function", async () => {
    const model = edgeModel();
    const r = rng(77);
    for (const l of model.layers) {
      if (l.getClassName() !== "BatchNormalization") continue;
      l.setWeights(
        l.getWeights().map((w, i) => {
          const role = l.weights[i]?.originalName.split("/").pop();
          const v = Array.from({ length: w.size }, () =>
            role === "moving_variance" ? 0.3 + r() : role === "gamma" ? 0.5 + r() : r() - 0.5,
          );
          return tf.tensor(v, w.shape);
        }),
      );
    }
    const { model: folded, report } = foldBatchNormWithReport(model);
    // the conv with a bias, the depthwise one and the dense one; not the shared conv's, the add's
    // or the relu conv's
    const kinds = Object.values(report.foldedBatchNorms).map((n) => model.getLayer(n).getClassName());
    expect(kinds.sort()).toEqual(["Conv2D", "Dense", "DepthwiseConv2D"]);
    expect(Object.keys(report.foldedPads)).toHaveLength(1);
    expect(report.relu6Layers).toHaveLength(1);
    // every conv runs fused; the ReLU6 after the first conv and the ReLU after the last one are
    // computed inside them, the conv with activation "relu" fuses its own
    expect(report.fusedConvs).toHaveLength(5);
    expect(Object.values(report.fusedActivations)).toHaveLength(2);
    expect(folded.layers.filter((l) => l.getClassName() === "BatchNormalization")).toHaveLength(3);
    expect(folded.layers.filter((l) => l.getClassName() === "ZeroPadding2D")).toHaveLength(1);
    expect(folded.layers.filter((l) => l instanceof ReLU6 || l.getClassName() === "ReLU")).toHaveLength(0);
    expect(
      folded.layers.filter((l) => l instanceof FusedConv).map((l) => (l as FusedConv).activation),
    ).toEqual(["relu6", "linear", "linear", "relu", "relu"]);

    const r2 = rng(5);
    const x = tf.tensor4d(
      Array.from({ length: 4 * 9 * 10 * 3 }, () => (r2() - 0.5) * 4),
      [4, 9, 10, 3],
    );
    expect(relErr(logits(folded, x), logits(model, x))).toBeLessThan(TOL);
    const ref = probAndGrad(model, x);
    const got = probAndGrad(folded, x);
    expectGradientsMatch(got.g, ref.g, 4);
    // the same on the cpu backend (the rewrite is backend-independent)
    await tf.setBackend("cpu");
    expect(relErr(logits(folded, x), logits(model, x))).toBeLessThan(TOL);
    expectGradientsMatch(probAndGrad(folded, x).g, probAndGrad(model, x).g, 4);
    await tf.setBackend("wasm");
    x.dispose();
    folded.dispose();
    model.dispose();
  });

  it("folds batch norms without gamma or beta (forward only: tfjs cannot differentiate those)", () => {
    const inp = tf.input({ shape: [6, 6, 2] });
    let h = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) })
      .apply(inp) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization({ scale: false }).apply(h) as tf.SymbolicTensor;
    h = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        padding: "same",
        depthwiseInitializer: tf.initializers.glorotNormal({ seed: 2 }),
      })
      .apply(h) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization({ center: false }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: h });
    for (const bn of model.layers.filter((l) => l.getClassName() === "BatchNormalization")) {
      bn.setWeights(bn.getWeights().map((w, i) => tf.fill(w.shape, [0.3, -0.2, 2.5][i] as number)));
    }
    const folded = foldBatchNorm(model, { fuseConvs: false });
    expect(folded.layers.map((l) => l.getClassName())).toEqual(["InputLayer", "Conv2D", "DepthwiseConv2D"]);
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, "float32", 3);
    expect(relErr(logits(folded, x), logits(model, x))).toBeLessThan(TOL);
    tf.dispose([x]);
    folded.dispose();
    model.dispose();
  });

  it("rejects a tf.Sequential with a clear message", () => {
    const seq = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    expect(() => foldBatchNorm(seq)).toThrow(/functional model/);
    seq.dispose();
  });

  it("options turn the extra rewrites off", () => {
    const model = edgeModel();
    const off = { pads: false, relu6: false, fuseConvs: false };
    const { model: f, report } = foldBatchNormWithReport(model, off);
    f.dispose();
    expect(Object.keys(report.foldedPads)).toHaveLength(0);
    expect(report.relu6Layers).toHaveLength(0);
    expect(report.fusedConvs).toHaveLength(0);
    expect(Object.keys(report.foldedBatchNorms)).toHaveLength(3);
    const plain = foldBatchNorm(model, off);
    expect(plain.layers.some((l) => l instanceof ReLU6 || l instanceof FusedConv)).toBe(false);
    plain.dispose();
    model.dispose();
  });
});
