import * as tf from "@tensorflow/tfjs";
import { MODEL_NAMES, type ModelName } from "@xnn/shared";
import { beforeAll, describe, expect, it } from "vitest";
import { buildSmallModel, tinyMobileNet } from "../testing.js";
import { buildModel, buildModelSkeleton, HEAD_PREFIX, INPUT_NAME, makeDivisible } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Parameters excluding BatchNorm moving statistics (buffers in PyTorch, non-trainable in Keras). */
function countParams(model: tf.LayersModel, names?: Set<string>): number {
  let n = 0;
  for (const l of model.layers) {
    if (names && !names.has(l.name)) continue;
    for (const w of l.weights) {
      if (/moving_(mean|variance)$/.test(w.originalName)) continue;
      n += w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    }
  }
  return n;
}

// Reference backbone sizes (no classifier): Keras MobileNetV2(include_top=False) trainable params
// 2,223,872; torchvision resnet18 11,689,512 - fc 513,000; Keras ResNet50(include_top=False)
// trainable 23,534,592; ConvNeXtV2-atto 3.708M - head 321,000 (~3.387M); -tiny 28.6M - 769k.
const EXPECTED_BACKBONE: Record<ModelName, number> = {
  mobilenet_v2: 2_223_872,
  resnet18: 11_176_512,
  resnet50: 23_534_592,
  convnext_v2_atto: 3_387_400,
  convnext_v2_tiny: 27_866_496,
};

describe("buildModel architectures", () => {
  // Parameter counts don't depend on image size (global pooling); the zero-init skeleton has the
  // same graph as buildModel, so counts are checked without paying for full random init.
  it("backbone parameter counts match the published full-size models", () => {
    for (const arch of MODEL_NAMES) {
      const numClasses = 5;
      const { model, backboneLayerNames } = buildModelSkeleton({
        arch,
        imageSize: 224,
        numClasses,
        dropout: 0.2,
        seed: 0,
      });
      try {
        const backbone = countParams(model, new Set(backboneLayerNames));
        expect(Math.abs(backbone - EXPECTED_BACKBONE[arch]) / EXPECTED_BACKBONE[arch], arch).toBeLessThan(
          0.005,
        );
        // Head: 20-10-5-C dense stack on the pooled feature.
        const feat = model.getLayer(`${HEAD_PREFIX}dense_1`).weights[0]?.shape[0] as number;
        expect(countParams(model) - backbone, arch).toBe(
          feat * 20 + 20 + 20 * 10 + 10 + 10 * 5 + 5 + 5 * numClasses + numClasses,
        );
      } finally {
        model.dispose();
      }
    }
  });

  for (const arch of MODEL_NAMES) {
    it(`${arch}: seeded build produces finite [b, C] logits at 32 px`, async () => {
      const numClasses = 3;
      const { model, init } = await buildSmallModel({ arch, numClasses, seed: 7 });
      try {
        expect(init).toBe("random");
        // Batch 1 for the big two: their forward pass dominates this file's cpu time.
        const b = arch === "resnet50" || arch === "convnext_v2_tiny" ? 1 : 2;
        const y = tf.tidy(
          () => model.predict(tf.randomUniform([b, 32, 32, 3], 0, 1, "float32", 1)) as tf.Tensor,
        );
        expect(y.shape).toEqual([b, numClasses]);
        const v = Array.from(y.dataSync());
        expect(v.every(Number.isFinite)).toBe(true);
        expect(v.some((e) => e !== 0)).toBe(true);
        y.dispose();
      } finally {
        model.dispose();
      }
    });
  }

  it("convention 'torch' builds torchvision's graphs: their parameter counts, eps 1e-5, symmetric pads", () => {
    // torchvision backbones without the classifier: resnet50 25,557,032 - fc 2,049,000 (v1.5: no
    // conv biases, unlike Keras' 23,534,592); mobilenet_v2 3,504,872 - 1,281,000; resnet18 as before.
    const expected: Partial<Record<ModelName, number>> = {
      resnet50: 23_508_032,
      mobilenet_v2: 2_223_872,
      resnet18: 11_176_512,
    };
    for (const [arch, count] of Object.entries(expected) as Array<[ModelName, number]>) {
      const { model, backboneLayerNames } = buildModelSkeleton({
        arch,
        imageSize: 64,
        numClasses: 2,
        dropout: 0,
        seed: 0,
        convention: "torch",
      });
      try {
        expect(countParams(model, new Set(backboneLayerNames)), arch).toBe(count);
        const eps = model.layers
          .filter((l) => l.getClassName() === "BatchNormalization")
          .map((l) => (l.getConfig() as { epsilon: number }).epsilon);
        expect(new Set(eps), arch).toEqual(new Set([1e-5]));
      } finally {
        model.dispose();
      }
    }
    const r50 = buildModelSkeleton({
      arch: "resnet50",
      imageSize: 64,
      numClasses: 2,
      dropout: 0,
      seed: 0,
      convention: "torch",
    });
    // v1.5: the stride-2 block's 1x1 keeps the size, its 3x3 (after a symmetric pad) halves it.
    expect(r50.model.getLayer("conv3_block1_1_conv").outputShape).toEqual([null, 16, 16, 128]);
    expect(r50.model.getLayer("conv3_block1_2_pad").outputShape).toEqual([null, 18, 18, 128]);
    expect(r50.model.getLayer("conv3_block1_2_conv").outputShape).toEqual([null, 8, 8, 128]);
    r50.model.dispose();
    expect(() =>
      buildModelSkeleton({
        arch: "resnet18",
        imageSize: 64,
        numClasses: 2,
        dropout: 0,
        seed: 0,
        convention: "keras",
      }),
    ).toThrow(/there is no Keras ResNet-18/);
  });

  it("mobilenet_v2 width multiplier rounds channels to multiples of 8", async () => {
    expect([
      makeDivisible(32 * 0.35),
      makeDivisible(16 * 0.35),
      makeDivisible(24 * 0.35),
      makeDivisible(320 * 0.35),
    ]).toEqual([16, 8, 8, 112]);
    expect(makeDivisible(96 * 0.75)).toBe(72);
    const { model } = await tinyMobileNet({ numClasses: 4, seed: 1 });
    try {
      for (const l of model.layers) {
        if (l.getClassName() !== "Conv2D") continue;
        const out = l.weights[0]?.shape[3] as number;
        expect(out % 8, l.name).toBe(0);
      }
      expect(model.getLayer("Conv1").weights[0]?.shape).toEqual([3, 3, 3, 16]);
      expect(model.getLayer("block_16_project").weights[0]?.shape[3]).toBe(112);
      // Last conv stays 1280 for alpha <= 1 (paper / Keras).
      expect(model.getLayer("Conv_1").weights[0]?.shape[3]).toBe(1280);
      const y = model.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor;
      expect(y.shape).toEqual([1, 4]);
    } finally {
      model.dispose();
    }
  });

  it("names every layer explicitly: backbone vs head_ split, no tfjs auto-names", async () => {
    const { model, backboneLayerNames } = buildModelSkeleton({
      arch: "convnext_v2_atto",
      imageSize: 32,
      numClasses: 2,
      dropout: 0.2,
      seed: 1,
    });
    try {
      const names = model.layers.map((l) => l.name);
      const head = names.filter((n) => n.startsWith(HEAD_PREFIX));
      expect(head).toEqual([
        "head_gap",
        "head_dense_1",
        "head_relu_1",
        "head_dropout_1",
        "head_dense_2",
        "head_relu_2",
        "head_dropout_2",
        "head_dense_3",
        "head_relu_3",
        "head_dropout_3",
        "head_logits",
      ]);
      expect(new Set([...backboneLayerNames, ...head, INPUT_NAME])).toEqual(new Set(names));
      expect(backboneLayerNames).toContain("stage3_block1_grn");
      expect(backboneLayerNames).toContain("final_norm");
      // Auto-generated names (conv2d_Conv2D3, dense_Dense1, ...) carry a process-global counter
      // and would break reloading weights by name in another process.
      for (const n of names) expect(n).not.toMatch(/_[A-Z][A-Za-z0-9]+\d+$/);
    } finally {
      model.dispose();
    }
  });

  it("rejects bad options with a clear message", async () => {
    await expect(
      buildModel({
        arch: "resnet18",
        widthMultiplier: 0.5,
        imageSize: 32,
        numClasses: 2,
        dropout: 0.2,
        seed: 1,
      }),
    ).rejects.toThrow(/widthMultiplier applies to mobilenet_v2 only/);
    await expect(
      buildModel({ arch: "vgg" as ModelName, imageSize: 32, numClasses: 2, dropout: 0.2, seed: 1 }),
    ).rejects.toThrow(/unknown arch 'vgg'/);
    await expect(
      buildModel({ arch: "resnet18", imageSize: 16, numClasses: 2, dropout: 0.2, seed: 1 }),
    ).rejects.toThrow(/imageSize/);
    await expect(
      buildModel({ arch: "resnet18", imageSize: 32, numClasses: 2, dropout: 1, seed: 1 }),
    ).rejects.toThrow(/dropout/);
    await expect(
      buildModel({
        arch: "resnet18",
        imageSize: 32,
        numClasses: 2,
        dropout: 0.2,
        seed: 1,
        headUnits: [8, 0],
      }),
    ).rejects.toThrow(/headUnits must be positive integers, got \[8, 0\]/);
  });

  it("headUnits shapes the head: the study's 20-10-5 by default, [] for dropout then logits", async () => {
    const dense = (m: tf.LayersModel) =>
      m.layers
        .filter((l) => l.name.startsWith("head_") && l.getClassName() === "Dense")
        .map((l) => l.outputShape);
    const study = (await tinyMobileNet({ seed: 1 })).model;
    const linear = (await tinyMobileNet({ seed: 1, headUnits: [] })).model;
    const one = (await tinyMobileNet({ seed: 1, headUnits: [16] })).model;
    try {
      expect(dense(study)).toEqual([
        [null, 20],
        [null, 10],
        [null, 5],
        [null, 3],
      ]);
      expect(dense(linear)).toEqual([[null, 3]]);
      expect(linear.layers.map((l) => l.name).filter((n) => n.startsWith("head_"))).toEqual([
        "head_gap",
        "head_dropout_0",
        "head_logits",
      ]);
      expect(dense(one)).toEqual([
        [null, 16],
        [null, 3],
      ]);
    } finally {
      for (const m of [study, linear, one]) m.dispose();
    }
  });
});

describe("seeded initialisation", () => {
  async function weightsOf(seed: number): Promise<Map<string, Float32Array>> {
    const { model } = await tinyMobileNet({ seed });
    const out = new Map<string, Float32Array>();
    for (const w of model.weights) out.set(w.originalName, w.read().dataSync() as Float32Array);
    model.dispose();
    return out;
  }

  it("same seed -> identical weights; different seed -> different weights", async () => {
    const a = await weightsOf(42);
    const b = await weightsOf(42);
    const c = await weightsOf(43);
    expect([...a.keys()]).toEqual([...b.keys()]);
    let kernels = 0;
    for (const [name, wa] of a) {
      expect(Buffer.from(wa.buffer).equals(Buffer.from((b.get(name) as Float32Array).buffer)), name).toBe(
        true,
      );
      if (/kernel$/.test(name)) {
        kernels++;
        const wc = c.get(name) as Float32Array;
        expect(
          Buffer.from(wa.buffer).equals(Buffer.from(wc.buffer)),
          `${name} should differ across seeds`,
        ).toBe(false);
      }
    }
    expect(kernels).toBeGreaterThan(50);
  });

  it("depthwise init follows torchvision's MobileNetV2 (fan_out = 9*C); pooled features still vary", async () => {
    const { model } = await tinyMobileNet({ seed: 1 });
    try {
      const k = model.getLayer("block_10_depthwise").weights[0]?.read() as tf.Tensor; // [3,3,C,1]
      const c = k.shape[2] as number;
      const std = tf.tidy(() => tf.moments(k).variance.sqrt().dataSync()[0] as number);
      // tfjs' truncated normal (cut at 2 std) shrinks the std by ~12%.
      expect(std).toBeGreaterThan(0.8 * Math.sqrt(2 / (9 * c)));
      expect(std).toBeLessThan(1.05 * Math.sqrt(2 / (9 * c)));
      // Behind BatchNorm (batch statistics, as in training and after calibration) the scale of a
      // depthwise filter does not shrink the signal: the pooled features differ between inputs.
      const probe = tf.model({
        inputs: model.inputs,
        outputs: model.getLayer("out_relu").output as tf.SymbolicTensor,
      });
      const spread = tf.tidy(() => {
        const f = probe.apply(tf.randomUniform([4, 32, 32, 3], 0, 1, "float32", 2), {
          training: true,
        }) as tf.Tensor;
        return tf
          .moments(tf.mean(f, [1, 2]), 0)
          .variance.sqrt()
          .mean()
          .dataSync()[0] as number;
      });
      expect(spread).toBeGreaterThan(1e-3);
    } finally {
      model.dispose();
    }
  });

  it("ReLU layers get He-normal scale (std ~ sqrt(2 / fan_in))", async () => {
    const { model } = await tinyMobileNet({ seed: 3 });
    try {
      const k = model.getLayer("block_15_expand").weights[0]?.read() as tf.Tensor; // 1x1x56x336
      const fanIn = 56;
      const std = tf.tidy(() => tf.moments(k).variance.sqrt().dataSync()[0] as number);
      // tfjs draws He-normal from a normal truncated at 2 std, which shrinks the std by ~12%.
      expect(std).toBeGreaterThan(0.8 * Math.sqrt(2 / fanIn));
      expect(std).toBeLessThan(1.05 * Math.sqrt(2 / fanIn));
      const h = model.getLayer("head_dense_3").weights[0]?.read() as tf.Tensor; // 10x5
      const hs = tf.tidy(() => tf.moments(h).variance.sqrt().dataSync()[0] as number);
      expect(hs).toBeGreaterThan(0.5 * Math.sqrt(2 / 10));
    } finally {
      model.dispose();
    }
  });
});
