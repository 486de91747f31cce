import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSmallModel, tinyMobileNet } from "../testing.js";
import { type BuiltModel, configureStage, isHeadLayerName, isNormalizationLayer } from "./index.js";
import { crossEntropyFromLogits } from "./testing/loss.js";

let built: BuiltModel;

beforeAll(async () => {
  await tf.setBackend("cpu");
  built = await tinyMobileNet({ seed: 11 });
});
afterAll(() => built.model.dispose());

const HEAD_WEIGHTED = ["head_dense_1", "head_dense_2", "head_dense_3", "head_logits"];

function trainableWeighted(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => l.trainable && l.weights.length > 0).map((l) => l.name);
}

/** Independent reference: weight-bearing, non-BN/LN backbone layers in model order. */
function eligibleBackbone(b: BuiltModel): string[] {
  const bb = new Set(b.backboneLayerNames);
  return b.model.layers
    .filter(
      (l) =>
        bb.has(l.name) &&
        l.weights.length > 0 &&
        !["BatchNormalization", "LayerNormalization"].includes(l.getClassName()),
    )
    .map((l) => l.name);
}

describe("configureStage", () => {
  it("fe: only the head is trainable", () => {
    const names = configureStage(built.model, built.backboneLayerNames, { kind: "fe" });
    expect(names).toEqual(HEAD_WEIGHTED);
    expect(trainableWeighted(built.model)).toEqual(HEAD_WEIGHTED);
    for (const n of built.backboneLayerNames) expect(built.model.getLayer(n).trainable, n).toBe(false);
    // 20-10-5-3 head on a 1280-d feature.
    expect(built.model.trainableWeights.length).toBe(8);
  });

  it("ft N=0 equals fe; N=5 unfreezes exactly the last 5 conv/depthwise layers; norms stay frozen", () => {
    expect(configureStage(built.model, built.backboneLayerNames, { kind: "ft", trainableLayers: 0 })).toEqual(
      HEAD_WEIGHTED,
    );

    const names = configureStage(built.model, built.backboneLayerNames, { kind: "ft", trainableLayers: 5 });
    // MobileNetV2's last five weight-bearing non-norm layers, spelled out so a counting bug
    // (e.g. counting BN layers) can't hide behind the same helper.
    const last5 = ["block_15_project", "block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"];
    expect(names).toEqual([...last5, ...HEAD_WEIGHTED]);
    expect(eligibleBackbone(built).slice(-5)).toEqual(last5);
    expect(trainableWeighted(built.model)).toEqual([...last5, ...HEAD_WEIGHTED]);
    for (const n of ["Conv_1_bn", "block_16_project_BN", "block_16_depthwise_BN"])
      expect(built.model.getLayer(n).trainable, n).toBe(false);
  });

  it("ft all: every non-normalisation backbone layer plus head; no BN trainable", () => {
    const names = configureStage(built.model, built.backboneLayerNames, {
      kind: "ft",
      trainableLayers: "all",
    });
    const eligible = eligibleBackbone(built);
    expect(eligible.length).toBe(52); // 35 pointwise/expand/project convs, 17 depthwise
    expect(names).toEqual([...eligible, ...HEAD_WEIGHTED]);
    for (const l of built.model.layers) {
      if (isNormalizationLayer(l)) expect(l.trainable, l.name).toBe(false);
    }
    expect(built.model.layers.filter((l) => isNormalizationLayer(l)).length).toBe(52);
    // "all" is the same as N = number of eligible layers; one more is an error.
    expect(
      configureStage(built.model, built.backboneLayerNames, { kind: "ft", trainableLayers: eligible.length }),
    ).toEqual(names);
    expect(() =>
      configureStage(built.model, built.backboneLayerNames, {
        kind: "ft",
        trainableLayers: eligible.length + 1,
      }),
    ).toThrow(/only 52/);
    expect(() =>
      configureStage(built.model, built.backboneLayerNames, { kind: "ft", trainableLayers: -1 }),
    ).toThrow(/non-negative/);
  });

  it("ft with normalization: trainable also unfreezes the norms inside the unfrozen part, and only those", () => {
    const names = configureStage(built.model, built.backboneLayerNames, {
      kind: "ft",
      trainableLayers: 5,
      normalization: "trainable",
    });
    const last5 = ["block_15_project", "block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"];
    const norms = [
      "block_15_project_BN",
      "block_16_expand_BN",
      "block_16_depthwise_BN",
      "block_16_project_BN",
      "Conv_1_bn",
    ];
    const order = built.model.layers.map((l) => l.name);
    const expected = [...last5, ...norms].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    expect(names).toEqual([...expected, ...HEAD_WEIGHTED]);
    expect(built.model.getLayer("block_15_depthwise_BN").trainable).toBe(false);

    const all = configureStage(built.model, built.backboneLayerNames, {
      kind: "ft",
      trainableLayers: "all",
      normalization: "trainable",
    });
    expect(all.length).toBe(52 + 52 + HEAD_WEIGHTED.length);
    for (const l of built.model.layers) if (isNormalizationLayer(l)) expect(l.trainable, l.name).toBe(true);
    // Back to the default: the same call without the option freezes every norm again.
    configureStage(built.model, built.backboneLayerNames, { kind: "ft", trainableLayers: "all" });
    for (const l of built.model.layers) if (isNormalizationLayer(l)) expect(l.trainable, l.name).toBe(false);
  });

  it("GRN counts as a trainable-eligible layer in ConvNeXt V2, LayerNorm does not", async () => {
    const b = await buildSmallModel({ arch: "convnext_v2_atto", numClasses: 2, seed: 1 });
    try {
      const names = configureStage(b.model, b.backboneLayerNames, { kind: "ft", trainableLayers: 4 });
      expect(names.filter((n) => !isHeadLayerName(n))).toEqual([
        "stage3_block1_dwconv",
        "stage3_block1_pwconv1",
        "stage3_block1_grn",
        "stage3_block1_pwconv2",
      ]);
      expect(b.model.getLayer("final_norm").trainable).toBe(false);
      expect(b.model.getLayer("stage3_block1_norm").trainable).toBe(false);
    } finally {
      b.model.dispose();
    }
  });

  it("after recompiling, fit updates exactly the configured layers (frozen BN params untouched)", async () => {
    const { model, backboneLayerNames } = built;
    configureStage(model, backboneLayerNames, { kind: "ft", trainableLayers: 2 });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: crossEntropyFromLogits });
    const snap = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync().slice()]));
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, "float32", 5);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], "int32"), 3);
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const changed = new Set<string>();
    for (const w of model.weights) {
      const before = snap.get(w.originalName) as Float32Array;
      const after = w.read().dataSync();
      if (before.some((v, i) => v !== after[i])) changed.add(w.originalName);
    }
    tf.dispose([x, y]);
    const trainableChanged = [...changed].filter((n) => !/moving_(mean|variance)$/.test(n));
    expect(new Set(trainableChanged.map((n) => n.split("/")[0]))).toEqual(
      new Set(["block_16_project", "Conv_1", ...HEAD_WEIGHTED]),
    );
    // Documented tfjs behaviour: a frozen BN still updates its moving statistics in fit().
    expect(changed.has("Conv1/kernel")).toBe(false);
    expect(changed.has("bn_Conv1/gamma")).toBe(false);
    expect(changed.has("bn_Conv1/moving_mean")).toBe(true);
  });
});
