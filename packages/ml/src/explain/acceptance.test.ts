import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipelineSchema } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { loadCheckpoint } from "../checkpoint/checkpoint.js";
import { decodeImage } from "../data/loader.js";
import { scanDataset } from "../data/scan.js";
import { generateSynthetic } from "../data/synth.js";
import { trainPipeline } from "../train/train.js";
import { explainPrediction } from "./explainPrediction.js";
import { integratedGradients } from "./integratedGradients.js";

// The small, CI-sized version of issue 6's completeness criterion: a MobileNetV2 (alpha 0.35,
// 32 px) trained briefly by the real pipeline on the synthetic set, then IG with default settings
// on every test image. The full-size figure is `pnpm bench ig-acceptance`.
const SIZE = 32;
let tmp: string;
let dataDir: string;
let checkpointDir: string;

beforeAll(async () => {
  await initBackend("wasm");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-ig-accept-"));
  dataDir = path.join(tmp, "data");
  await generateSynthetic({ out: dataDir, n: 60, size: SIZE, seed: 4 });
  const r = await trainPipeline(
    pipelineSchema.parse({
      task: "ci",
      seed: 1,
      data: { dir: dataDir, imageSize: SIZE, augment: false },
      model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: 0.1 },
      stage: { kind: "ft", trainableLayers: "all" },
      classWeighting: "balanced",
      train: {
        batchSize: 16,
        epochs: 3,
        learningRate: 3e-3,
        weightDecay: 1e-4,
        warmupEpochs: 1,
        earlyStopping: { patience: 50 },
        plateau: { factor: 0.2, patience: 5, minLr: 1e-6 },
      },
      eval: { average: "weighted" },
    }),
    { runDir: path.join(tmp, "run"), log: () => {} },
  );
  checkpointDir = r.bestCheckpoint.dir;
}, 300_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("IG acceptance (small)", () => {
  it("default settings bring the completeness gap under 5% on >= 95% of the synthetic test images", async () => {
    const scanned = await scanDataset(dataDir);
    const model = await loadCheckpoint(checkpointDir);
    const gaps: number[] = [];
    for (const item of scanned.splits.test) {
      const x = await decodeImage(path.join(dataDir, item.path), { imageSize: SIZE });
      const r = await integratedGradients(model, x);
      expect(r.stepsUsed).toBeGreaterThanOrEqual(50);
      gaps.push(r.completenessGap);
    }
    const under = gaps.filter((g) => g < 0.05).length / gaps.length;
    console.info(
      `IG completeness on ${gaps.length} test images: ${(under * 100).toFixed(0)}% under 5%, max gap ${Math.max(...gaps).toFixed(4)}`,
    );
    expect(gaps.length).toBeGreaterThanOrEqual(6);
    expect(under).toBeGreaterThanOrEqual(0.95);
    model.dispose();
  }, 300_000);

  it("explainPrediction on a checkpoint directory returns the prediction, gap, steps and a PNG", async () => {
    const scanned = await scanDataset(dataDir);
    const item = scanned.splits.test[0];
    if (!item) throw new Error("no test image");
    const e = await explainPrediction({
      checkpointDir,
      imagePath: path.join(dataDir, item.path),
      classNames: scanned.classNames,
    });
    expect(scanned.classNames).toContain(e.predictedClass);
    expect(Object.values(e.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(e.completenessGap).toBeGreaterThanOrEqual(0);
    expect(e.stepsUsed).toBeGreaterThanOrEqual(50);
    expect(e.overlayPng.subarray(1, 4).toString("latin1")).toBe("PNG");
  }, 120_000);
});
