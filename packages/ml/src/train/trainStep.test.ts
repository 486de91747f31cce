import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import type { ImageBatch } from "../data/loader.js";
import { createRng } from "../data/prng.js";
import { configureStage, type Stage } from "../models/index.js";
import { buildSmallModel } from "../testing.js";
import { splitHead } from "./featureCache.js";
import { heapGuard } from "./heapError.js";
import { createTrainStep, type StepResult } from "./trainStep.js";

const SIZE = 32;
const BATCH = 32;
const TIMEOUT_MS = 300_000;

beforeAll(async () => {
  await initBackend("wasm");
});

/** A batch of noise images; labels deliberately uneven across the batch so micro-batches differ in class mix. */
function makeBatch(seed: number): ImageBatch {
  const rng = createRng(seed);
  const xs = new Float32Array(BATCH * SIZE * SIZE * 3);
  for (let i = 0; i < xs.length; i++) xs[i] = rng.normal();
  const ys = Int32Array.from({ length: BATCH }, (_, i) => (i < 6 ? 0 : i < 24 ? i % 2 : 2));
  return {
    xs,
    ys,
    paths: Array.from({ length: BATCH }, (_, i) => `img-${i}`),
    shape: [BATCH, SIZE, SIZE, 3],
  };
}

/**
 * One training step of a fresh model (same seed, so the same initial weights every call) on
 * `batch`. ConvNeXt V2 normalises each image by itself (LayerNorm, GRN), so the step's loss is a
 * sum over images and accumulation must reproduce the whole-batch step; no dropout. Plain SGD at
 * lr 1 so the update is the gradient itself (Adam's first step would hide its scale).
 */
async function stepOnce(o: {
  stage: Stage;
  frozenBackbone: boolean;
  classWeights: number[] | null;
  microBatchSize?: number;
  batch: ImageBatch;
}): Promise<{ before: Float32Array[]; after: Float32Array[]; result: StepResult }> {
  const { model, backboneLayerNames } = await buildSmallModel({
    arch: "convnext_v2_atto",
    dropout: 0,
    seed: 11,
  });
  configureStage(model, backboneLayerNames, o.stage);
  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const split = o.frozenBackbone ? splitHead(model) : null;
  const optimizer = tf.train.sgd(1);
  const classWeights = o.classWeights ? tf.tensor1d(o.classWeights) : null;
  const before = varList.map((v) => Float32Array.from(v.dataSync()));
  const step = createTrainStep({
    forward: (x, training) => (split ? split.head : model).apply(x, { training }) as tf.Tensor2D,
    frozenBackbone: split ? split.extractor : null,
    cached: false,
    varList,
    optimizer,
    classWeights,
    dropouts: [],
    seed: 3,
    inputNoise: 0,
    guard: heapGuard(BATCH, SIZE),
    ...(o.microBatchSize ? { microBatchSize: o.microBatchSize } : {}),
  });
  const result = await step(o.batch, { epoch: 1, globalStep: 0 });
  const after = varList.map((v) => Float32Array.from(v.dataSync()));
  split?.head.dispose();
  classWeights?.dispose();
  optimizer.dispose();
  model.dispose();
  return { before, after, result };
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.map((t) => t.length)).toEqual(b.map((t) => t.length));
  let m = 0;
  a.forEach((t, i) => {
    const u = b[i] as Float32Array;
    for (let j = 0; j < t.length; j++) m = Math.max(m, Math.abs((t[j] as number) - (u[j] as number)));
  });
  return m;
}

describe("createTrainStep with micro-batches", () => {
  it(
    "one step of batch 32 equals four accumulated micro-batches of 8 within 1e-5 (FT, last 15 layers)",
    async () => {
      const batch = makeBatch(1);
      const stage: Stage = { kind: "ft", trainableLayers: 15 };
      const whole = await stepOnce({ stage, frozenBackbone: false, classWeights: null, batch });
      const micro = await stepOnce({
        stage,
        frozenBackbone: false,
        classWeights: null,
        batch,
        microBatchSize: 8,
      });
      expect(maxAbsDiff(whole.before, micro.before)).toBe(0);
      // The step moved the weights, so agreeing after it means something.
      expect(maxAbsDiff(whole.before, whole.after)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(whole.after, micro.after)).toBeLessThan(1e-5);
      expect(micro.result.images).toBe(BATCH);
      expect(micro.result.weight).toBe(BATCH);
      expect(micro.result.correct).toBe(whole.result.correct);
      expect(micro.result.weightedLoss).toBeCloseTo(whole.result.weightedLoss, 4);
    },
    TIMEOUT_MS,
  );

  it(
    "with class weights, accumulates sum w*l over the whole batch's sum w: 4 x 8 and uneven 7,7,6,6,6 match the whole batch (FE, frozen backbone)",
    async () => {
      const batch = makeBatch(2);
      const classWeights = [3, 0.5, 1.5];
      const o = { stage: { kind: "fe" } as Stage, frozenBackbone: true, classWeights, batch };
      const whole = await stepOnce(o);
      const fours = await stepOnce({ ...o, microBatchSize: 8 });
      const uneven = await stepOnce({ ...o, microBatchSize: 7 });
      expect(maxAbsDiff(whole.before, whole.after)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(whole.after, fours.after)).toBeLessThan(1e-5);
      expect(maxAbsDiff(whole.after, uneven.after)).toBeLessThan(1e-5);
      const weightSum = Array.from(batch.ys).reduce((a, y) => a + (classWeights[y] as number), 0);
      for (const r of [whole, fours, uneven]) {
        expect(r.result.weight).toBeCloseTo(weightSum, 4);
        expect(r.result.weightedLoss).toBeCloseTo(whole.result.weightedLoss, 3);
      }
    },
    TIMEOUT_MS,
  );
});
