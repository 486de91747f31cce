import * as tf from "@tensorflow/tfjs";
import { mulberry32 as rng } from "@xnn/shared";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { tinyMobileNet } from "../testing.js";
import { calibrateBatchNorm } from "../train/batchnorm.js";
import { convStemOf, stemActivation, stemInputGradient } from "./convStem.js";
import { prepareForExplanation } from "./foldBatchNorm.js";
import { withInputGradientsOnly } from "./inputGradientsOnly.js";
import { blackBaseline, igPathCounts, integratedGradients } from "./integratedGradients.js";
import { buildTinyClassifier } from "./tinyClassifier.js";

/** A smooth image with noise, in the normalised range. */
function image(size: number, seed: number): Float32Array {
  const r = rng(seed);
  const v = new Float32Array(size * size * 3);
  for (let i = 0; i < v.length; i++) v[i] = 1.5 * Math.sin(i * 0.011 + seed) + 0.5 * (r() - 0.5);
  return v;
}

/** max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= maxDiff)) maxDiff = d; // NaN fails
    maxRef = Math.max(maxRef, Math.abs(b[i] as number));
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

const S = 32;
let model: tf.LayersModel;

beforeAll(async () => {
  expect((await initBackend("wasm")).backend).toBe("wasm");
  const { model: built } = await tinyMobileNet({ imageSize: S, numClasses: 3, seed: 3 });
  // Moving statistics from real batches, so that activations stay in range through the net and the
  // explained score moves along the path.
  const r = rng(7);
  const batch = tf.tensor4d(
    Float32Array.from({ length: 8 * S * S * 3 }, () => (r() - 0.5) * 4),
    [8, S, S, 3],
  );
  await calibrateBatchNorm(built, [batch]);
  batch.dispose();
  model = prepareForExplanation(built);
}, 120_000);

describe("integratedGradients' conv stem path", () => {
  it("is found on a folded MobileNetV2: its first layer, a 3x3 stride-2 FusedConv on the image", () => {
    const stem = convStemOf(model);
    expect(stem).not.toBeNull();
    expect(stem?.layer).toBe(model.layers[1]);
    expect(stem?.layer.kernelSize).toEqual([3, 3]);
    expect(stem?.layer.strides).toEqual([2, 2]);
    expect(stem?.activation).toBe("relu6");
  });

  it("runs the rest of the graph from the stem's output to the same logits as the model", () => {
    const stem = convStemOf(model);
    if (!stem) throw new Error("no stem");
    const x = tf.tensor4d(image(S, 1), [1, S, S, 3]);
    const [whole, rest] = tf.tidy(() => [
      model.predict(x) as tf.Tensor,
      stem.rest(stem.layer.apply(x) as tf.Tensor),
    ]) as [tf.Tensor, tf.Tensor];
    expect(Array.from(rest.dataSync())).toEqual(Array.from(whole.dataSync()));
    tf.dispose([x, whole, rest]);
  });

  // On a ReLU6 net the logit's input gradient depends on the activation pattern only, so both paths
  // give the same gradients bit for bit wherever no unit's pre-activation sits within rounding of 0
  // or 6 (where it does, either path's rounding may switch it: a mask flip, below).
  it("logit: the plain path's attributions and completeness gap", async () => {
    const cases = [
      { seed: 1, steps: 20, maxSteps: 20, target: 0, chunkSize: 7 },
      { seed: 2, steps: 20, maxSteps: 20, target: 2, chunkSize: 9 },
    ];
    for (const { seed, ...c } of cases) {
      const x = image(S, seed);
      const opts = { ...c, output: "logit" as const };
      const before = { ...igPathCounts };
      const plain = await integratedGradients(model, x, { ...opts, convStem: false });
      const stem = await integratedGradients(model, x, opts);
      expect(igPathCounts.plain).toBe(before.plain + 1);
      expect(igPathCounts.stem).toBe(before.stem + 1);
      expect(Math.abs(plain.fx - plain.fBaseline)).toBeGreaterThan(1e-2);
      expect(relErr(stem.attributions, plain.attributions)).toBeLessThan(1e-4);
      expect(Math.abs(stem.completenessGap - plain.completenessGap)).toBeLessThan(1e-6);
      expect(stem.stepsUsed).toBe(plain.stepsUsed);
      expect(stem.batches).toBe(plain.batches);
    }
  });

  it("per point: the stem path's gradients differ from the plain path's no more than another rounding of the path does", () => {
    const stem = convStemOf(model);
    if (!stem) throw new Error("no stem");
    const x = image(S, 3);
    const base = blackBaseline(S, S);
    const n = S * S * 3;
    const d = x.map((v, i) => v - (base[i] as number));
    const alphas = Array.from({ length: 65 }, (_, k) => k / 64);
    const B = alphas.length;
    const score = (logits: tf.Tensor) =>
      tf
        .softmax(logits as tf.Tensor2D)
        .slice([0, 1], [-1, 1])
        .sum();
    const plainGrad = (xs: Float32Array) =>
      withInputGradientsOnly(() =>
        tf.tidy(() => {
          const g = tf.grad((t: tf.Tensor) => score(model.apply(t) as tf.Tensor))(
            tf.tensor4d(xs, [B, S, S, 3]),
          );
          return g.dataSync().slice() as Float32Array;
        }),
      );
    // x' + a (x - x') as integratedGradients rounds it, and (1 - a) x' + a x: both the path, rounded differently.
    const ref = new Float32Array(B * n);
    const alt = new Float32Array(B * n);
    alphas.forEach((a, k) => {
      for (let i = 0; i < n; i++) {
        ref[k * n + i] = (base[i] as number) + a * (d[i] as number);
        alt[k * n + i] = (1 - a) * (base[i] as number) + a * (x[i] as number);
      }
    });
    const gRef = plainGrad(ref);
    const gAlt = plainGrad(alt);
    const gStem = withInputGradientsOnly(() =>
      tf.tidy(() => {
        const { filter, bias } = stem.layer.filterAndBias();
        const conv = (v: Float32Array) => tf.conv2d(tf.tensor4d(v, [1, S, S, 3]), filter, 2, "same");
        const u0 = bias ? tf.add(conv(base), bias) : conv(base);
        const u = tf.add(u0, tf.mul(tf.tensor4d(alphas, [B, 1, 1, 1]), conv(d)));
        const act = stemActivation(stem.activation);
        const gu = tf.grad((t: tf.Tensor) => score(stem.rest(act(t))))(u);
        return stemInputGradient(stem, gu, [B, S, S, 3]).dataSync().slice() as Float32Array;
      }),
    );
    const errs = (g: Float32Array) =>
      alphas.map((_, k) => relErr(g.subarray(k * n, (k + 1) * n), gRef.subarray(k * n, (k + 1) * n)));
    const stemErrs = errs(gStem);
    const altErrs = errs(gAlt);
    const msg = `stem ${stemErrs.map((e) => e.toExponential(1))}; other rounding ${altErrs.map((e) => e.toExponential(1))}`;
    // Points where a unit's pre-activation sits within rounding of 0 or 6 switch it either way (a
    // mask flip: errors of 1e-2 here, on this untrained net); as few as the other rounding's.
    const flips = (errs: number[]) => errs.filter((e) => e >= 1e-3).length;
    expect(flips(stemErrs), msg).toBeLessThanOrEqual(Math.min(4, flips(altErrs) + 2));
    // Elsewhere the softmax' rounding only: the same order as the other rounding's.
    const rest = (errs: number[]) => Math.max(...errs.filter((e) => e < 1e-3));
    expect(rest(stemErrs), msg).toBeLessThanOrEqual(10 * rest(altErrs));
  });

  it("a zero pad before the conv (ResNet's stem) is part of the stem: the plain path's attributions", async () => {
    const R = 32;
    const input = tf.input({ shape: [R, R, 3] });
    let h = tf.layers.zeroPadding2d({ padding: 3 }).apply(input) as tf.SymbolicTensor;
    h = tf.layers
      .conv2d({
        filters: 8,
        kernelSize: 7,
        strides: 2,
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: 11 }),
      })
      .apply(h) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
    h = tf.layers
      .conv2d({
        filters: 8,
        kernelSize: 3,
        strides: 2,
        padding: "same",
        activation: "relu",
        kernelInitializer: tf.initializers.heNormal({ seed: 12 }),
      })
      .apply(h) as tf.SymbolicTensor;
    h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
    const built = tf.model({
      inputs: input,
      outputs: tf.layers
        .dense({ units: 3, kernelInitializer: tf.initializers.glorotNormal({ seed: 13 }) })
        .apply(h) as tf.SymbolicTensor,
    });
    const r = rng(17);
    const batch = tf.tensor4d(
      Float32Array.from({ length: 4 * R * R * 3 }, () => (r() - 0.5) * 4),
      [4, R, R, 3],
    );
    await calibrateBatchNorm(built, [batch]);
    batch.dispose();
    const resnetLike = prepareForExplanation(built);
    expect(resnetLike.layers[1]?.getClassName()).toBe("ZeroPadding2D");
    const stem = convStemOf(resnetLike);
    expect(stem?.pad).toEqual([
      [3, 3],
      [3, 3],
    ]);
    expect(stem?.activation).toBe("relu");
    for (const seed of [1, 2]) {
      const x = image(R, seed);
      const opts = { steps: 20, maxSteps: 20, target: seed, chunkSize: 6, output: "logit" as const };
      const before = { ...igPathCounts };
      const plain = await integratedGradients(resnetLike, x, { ...opts, convStem: false });
      const viaStem = await integratedGradients(resnetLike, x, opts);
      expect(igPathCounts).toEqual({ stem: before.stem + 1, plain: before.plain + 1 });
      expect(Math.abs(plain.fx - plain.fBaseline)).toBeGreaterThan(1e-3);
      expect(relErr(viaStem.attributions, plain.attributions)).toBeLessThan(1e-4);
      expect(Math.abs(viaStem.completenessGap - plain.completenessGap)).toBeLessThan(1e-6);
    }
    resnetLike.dispose();
    built.dispose();
  });

  it("models without a FusedConv stem take the plain path and still explain", async () => {
    // tf.layers' own conv2d first (not prepared for explanation): no stem.
    const tiny = buildTinyClassifier({ imageSize: 16, numClasses: 3, seed: 4 });
    expect(convStemOf(tiny)).toBeNull();
    // An image that also feeds a second branch: the stem is not the only consumer of the image.
    const input = tf.input({ shape: [16, 16, 3] });
    const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "same" }).apply(input);
    const b = tf.layers.averagePooling2d({ poolSize: 2 }).apply(input);
    const cat = tf.layers.concatenate().apply([a, b] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(cat);
    const twoBranch = prepareForExplanation(
      tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(pooled) as tf.SymbolicTensor }),
    );
    expect(twoBranch.layers.some((l) => l.getClassName() === "XnnFusedConv")).toBe(true);
    expect(convStemOf(twoBranch)).toBeNull();
    // A linear conv stem followed by a LayerNorm (ConvNeXt's patchify stem): kept on the plain path.
    const image16 = tf.input({ shape: [16, 16, 3] });
    const patches = tf.layers.conv2d({ filters: 4, kernelSize: 4, strides: 4 }).apply(image16);
    const normed = tf.layers.layerNormalization().apply(patches);
    const linearStem = prepareForExplanation(
      tf.model({
        inputs: image16,
        outputs: tf.layers
          .dense({ units: 3 })
          .apply(tf.layers.globalAveragePooling2d({}).apply(normed)) as tf.SymbolicTensor,
      }),
    );
    expect(linearStem.layers[1]?.getClassName()).toBe("XnnFusedConv");
    expect(convStemOf(linearStem)).toBeNull();
    for (const m of [tiny, twoBranch, linearStem]) {
      const before = igPathCounts.plain;
      const r = await integratedGradients(m, image(16, 5), { steps: 16, maxSteps: 16, target: 0 });
      expect(igPathCounts.plain).toBe(before + 1);
      const sum = r.attributions.reduce((s, v) => s + v, 0);
      expect(Number.isFinite(sum)).toBe(true);
      expect(Math.abs(sum - (r.fx - r.fBaseline))).toBeLessThanOrEqual(
        Math.max(0.2 * Math.abs(r.fx - r.fBaseline), 1e-6),
      );
    }
    tiny.dispose();
    twoBranch.dispose();
    linearStem.dispose();
  });
});
