import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { initHeadFromData, reviveDeadHeadUnits } from "./headInit.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** The 20-10-5-C head of every xnn model, on a d-dim pooled feature. */
function head(d: number, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [d] });
  let x = input;
  [20, 10, 5].forEach((units, i) => {
    x = tf.layers
      .dense({
        units,
        name: `head_dense_${i + 1}`,
        kernelInitializer: tf.initializers.heNormal({ seed: seed + i }),
      })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `head_relu_${i + 1}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.2, name: `head_dropout_${i + 1}` }).apply(x) as tf.SymbolicTensor;
  });
  const logits = tf.layers
    .dense({ units: 3, name: "head_logits", kernelInitializer: tf.initializers.glorotUniform({ seed }) })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** Pooled ReLU6-like features: a large shared positive offset plus a small per-image signal. */
function features(n: number, d: number): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.scalar(3), tf.randomUniform([n, d], 0, 0.3, "float32", 5)) as tf.Tensor2D);
}

const models: tf.LayersModel[] = [];
afterAll(() => {
  for (const m of models) m.dispose();
});

function activeShare(model: tf.LayersModel, feats: tf.Tensor2D, layer: string): number[] {
  const probe = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer(layer).output as tf.SymbolicTensor,
  });
  return tf.tidy(() => {
    const a = probe.predict(feats) as tf.Tensor2D;
    return Array.from(tf.mean(tf.cast(tf.greater(a, 0), "float32"), 0).dataSync());
  });
}

it("centres every hidden head unit on the data: none is on for every image or off for every image", () => {
  const feats = features(256, 64);
  const model = head(64, 1);
  models.push(model);
  // Before: with the shared offset, most units have one sign over the whole sample (dead or linear).
  const before = activeShare(model, feats, "head_relu_1");
  expect(before.filter((s) => s === 0 || s === 1).length).toBeGreaterThanOrEqual(16);

  const report = initHeadFromData(model, feats);
  expect(report.map((r) => r.layer)).toEqual(["head_dense_1", "head_dense_2", "head_dense_3"]);
  for (const layer of ["head_relu_1", "head_relu_2", "head_relu_3"]) {
    const share = activeShare(model, feats, layer);
    for (const s of share) {
      expect(s, layer).toBeGreaterThan(0.2);
      expect(s, layer).toBeLessThan(0.8);
    }
  }
  // Pre-activations of the first layer are standardised per unit.
  const pre = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer("head_dense_1").output as tf.SymbolicTensor,
  });
  const { mean, variance } = tf.tidy(() => tf.moments(pre.predict(feats) as tf.Tensor, 0));
  for (const m of mean.dataSync()) expect(Math.abs(m)).toBeLessThan(1e-3);
  for (const v of variance.dataSync()) expect(v).toBeCloseTo(1, 2);
  tf.dispose([mean, variance, feats]);
});

it("leaves the logits layer and the model's outputs shape as they were, and leaks no tensor", () => {
  const feats = features(64, 16);
  const model = head(16, 2);
  models.push(model);
  const logitsBefore = model
    .getLayer("head_logits")
    .getWeights()
    .map((w) => Array.from(w.dataSync()));
  const n0 = tf.memory().numTensors;
  initHeadFromData(model, feats);
  expect(tf.memory().numTensors).toBe(n0);
  const logitsAfter = model
    .getLayer("head_logits")
    .getWeights()
    .map((w) => Array.from(w.dataSync()));
  expect(logitsAfter).toEqual(logitsBefore);
  const out = model.predict(feats) as tf.Tensor;
  expect(out.shape).toEqual([64, 3]);
  tf.dispose([out, feats]);
});

it("revives only the dead units: live units keep their exact weights, dead ones fire again", () => {
  const feats = features(128, 16);
  const model = head(16, 3);
  models.push(model);
  initHeadFromData(model, feats);
  // Kill units 0-4 of the first layer: a large negative bias turns them off for every image.
  const dense1 = model.getLayer("head_dense_1");
  const [k, b] = dense1.getWeights() as [tf.Tensor2D, tf.Tensor1D];
  const killed = tf.tidy(() => tf.add(b, tf.concat([tf.fill([5], -100), tf.zeros([15])])));
  dense1.setWeights([k, killed]);
  killed.dispose();
  expect(activeShare(model, feats, "head_relu_1").slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
  const liveKernel = tf.tidy(() =>
    tf.slice(dense1.getWeights()[0] as tf.Tensor2D, [0, 5], [16, 15]).arraySync(),
  );
  const layer2 = model
    .getLayer("head_dense_2")
    .getWeights()
    .map((w) => Array.from(w.dataSync()));

  const report = reviveDeadHeadUnits(model, feats, 7);
  expect(report[0]?.revived).toBe(5);
  const share = activeShare(model, feats, "head_relu_1");
  for (const s of share.slice(0, 5)) expect(s).toBeGreaterThan(0.2);
  const liveAfter = tf.tidy(() =>
    tf.slice(dense1.getWeights()[0] as tf.Tensor2D, [0, 5], [16, 15]).arraySync(),
  );
  expect(liveAfter).toEqual(liveKernel);
  // Later layers had no dead unit, so they are untouched.
  expect(report[1]?.revived).toBe(0);
  expect(
    model
      .getLayer("head_dense_2")
      .getWeights()
      .map((w) => Array.from(w.dataSync())),
  ).toEqual(layer2);
  feats.dispose();
});
