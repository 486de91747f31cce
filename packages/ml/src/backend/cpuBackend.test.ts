import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { pipelineSchema } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveCheckpoint } from "../checkpoint/checkpoint.js";
import { generateSynthetic } from "../data/synth.js";
import { explainPrediction } from "../explain/explainPrediction.js";
import { withInputGradientsOnly } from "../explain/inputGradientsOnly.js";
import { blackBaseline, integratedGradients } from "../explain/integratedGradients.js";
import { runExplanationQuality } from "../explain/quality.js";
import { buildTinyClassifier } from "../explain/tinyClassifier.js";
import { trainPipeline } from "../train/train.js";
import { describeMemoryLimit, initBackend } from "./initBackend.js";

// The engine on the pure-JS cpu backend: like tfjs-node it has none of wasm's internals (no
// makeOutput, no heap), so a wasm-only path on a shared code path fails here. Kept tiny: the cpu
// backend is 5-25x slower than wasm.
const S = 32;
let tmp: string;
let dataDir: string;

beforeAll(async () => {
  await initBackend("cpu");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-cpu-engine-"));
  dataDir = path.join(tmp, "data");
  await generateSynthetic({ out: dataDir, n: 30, size: S, seed: 4 });
}, 60_000);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const config = (probePerClass = 0) =>
  pipelineSchema.parse({
    task: "cpu",
    seed: 1,
    data: { dir: dataDir, imageSize: S, augment: false, cacheFeatures: false },
    model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: 0.1 },
    stage: { kind: "ft", trainableLayers: "all" },
    classWeighting: "none",
    train: {
      batchSize: 8,
      epochs: 1,
      learningRate: 1e-3,
      weightDecay: 0,
      earlyStopping: { patience: 1 },
      plateau: { factor: 0.5, patience: 1, minLr: 0 },
    },
    eval: { average: "weighted", probePerClass },
  });

describe("the engine on the cpu backend", () => {
  it("trains every layer of a small model (conv weight gradients included) and scores it", async () => {
    const r = await trainPipeline(config(), { runDir: path.join(tmp, "run"), log: () => {} });
    expect(tf.getBackend()).toBe("cpu");
    expect(r.backend).toBe("cpu");
    expect(r.history).toHaveLength(1);
    expect(Number.isFinite(r.history[0]!.train.loss)).toBe(true);
    expect(r.predictions).toHaveLength(r.test.n);
  }, 300_000);

  it("input gradients only: the filter-gradient kernel is replaced by zeros, input gradients are unchanged, the kernel is restored", async () => {
    const model = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 3 });
    const before = tf.getKernel("Conv2DBackpropFilter", "cpu");
    const g = tf.grad((x: tf.Tensor) => (model.apply(x, { training: false }) as tf.Tensor).sum());
    const x = tf.randomNormal([1, S, S, 3], 0, 1, "float32", 7);
    const full = g(x);
    let replaced = false;
    const fast = withInputGradientsOnly(() => {
      replaced = tf.getKernel("Conv2DBackpropFilter", "cpu") !== before;
      return g(x);
    });
    expect(replaced).toBe(true);
    expect(Array.from(await fast.data())).toEqual(Array.from(await full.data()));
    expect(tf.getKernel("Conv2DBackpropFilter", "cpu")).toBe(before);
    tf.dispose([x, full, fast]);
    model.dispose();
  });

  it("integrated gradients and a prediction with its explanation", async () => {
    const model = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 5 });
    const x = tf.randomNormal([S, S, 3], 0, 1, "float32", 9);
    const input = (await x.data()) as Float32Array;
    x.dispose();
    const ig = await integratedGradients(model, input, {
      baseline: blackBaseline(S, S),
      target: 0,
      steps: 32,
      maxSteps: 128,
    });
    expect(ig.attributions).toHaveLength(S * S * 3);
    const sum = ig.attributions.reduce((a, v) => a + v, 0);
    expect(Math.abs(sum - (ig.fx - ig.fBaseline))).toBeLessThanOrEqual(
      0.05 * Math.abs(ig.fx - ig.fBaseline) + 1e-7,
    );
    const p = await explainPrediction({
      model,
      input,
      imageSize: S,
      classNames: ["a", "b", "c"],
      ig: { steps: 16, maxSteps: 32 },
    });
    expect(["a", "b", "c"]).toContain(p.predictedClass);
    const total = Object.values(p.probabilities).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 5);
    expect(p.overlayPng.subarray(1, 4).toString()).toBe("PNG");
    expect(tf.getBackend()).toBe("cpu");
    model.dispose();
  }, 120_000);

  it("scores explanation quality of a saved checkpoint", async () => {
    const model = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 11 });
    const dir = path.join(tmp, "ckpt");
    await saveCheckpoint(model, dir);
    model.dispose();
    const q = await runExplanationQuality(config(1), dir, { ig: { steps: 8, maxSteps: 8 }, curvePoints: 5 });
    expect(q?.probeImages).toBe(3);
    for (const v of [q!.deletionAuc, q!.insertionAuc]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(tf.getBackend()).toBe("cpu");
  }, 120_000);

  it("names the backend and device when memory runs out", () => {
    expect(describeMemoryLimit()).toBe("memory exhausted (cpu backend on CPU)");
  });
});
