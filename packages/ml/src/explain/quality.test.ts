import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipelineSchema, StopRequestedError } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { saveCheckpoint } from "../checkpoint/checkpoint.js";
import { scanDataset } from "../data/scan.js";
import { generateSynthetic } from "../data/synth.js";
import { explanationQuality, probeSet, qualityLogFields, runExplanationQuality } from "./quality.js";
import { buildTinyClassifier } from "./tinyClassifier.js";

let tmp: string;
beforeAll(async () => {
  await initBackend("wasm");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-quality-"));
  await generateSynthetic({ out: path.join(tmp, "data"), n: 60, size: 32, seed: 2 });
}, 60_000);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("explanationQuality", () => {
  it("uses a fixed probe set of N images per class from the test split", async () => {
    const s = await scanDataset(path.join(tmp, "data"));
    const a = probeSet(s.splits.test, 2);
    const b = probeSet([...s.splits.test].reverse(), 2);
    expect(a.map((i) => i.path)).toEqual(b.map((i) => i.path));
    expect(a.map((i) => i.label)).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it("reports gap, deletion/insertion AUC in [0, 1] and the mask share for images with masks", async () => {
    const model = buildTinyClassifier({ imageSize: 32, numClasses: 3, seed: 5 });
    const q = await explanationQuality(model, {
      dataDir: path.join(tmp, "data"),
      imageSize: 32,
      probePerClass: 1,
      ig: { maxSteps: 100 },
    });
    expect(q.probeImages).toBe(3);
    expect(q.completenessGap).toBeGreaterThanOrEqual(0);
    expect(q.stepsUsed).toBeGreaterThanOrEqual(50);
    expect(q.stepsUsed).toBeLessThanOrEqual(100);
    expect(q.durationMs).toBeGreaterThan(0);
    for (const v of [q.deletionAuc, q.insertionAuc]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    // The synthetic set writes a mask for every image, empty for normal: those have no share, and
    // the mean is over the lesion classes only.
    expect(q.perImage.map((p) => p.maskShare === null)).toEqual([false, true, false]);
    const shares = q.perImage.flatMap((p) => (p.maskShare === null ? [] : [p.maskShare]));
    expect(q.maskShare).toBeCloseTo((shares[0]! + shares[1]!) / 2, 10);
    model.dispose();
  }, 120_000);

  it("stops between probe images when asked, scoring nothing", async () => {
    const model = buildTinyClassifier({ imageSize: 32, numClasses: 3, seed: 5 });
    let polls = 0;
    await expect(
      explanationQuality(model, {
        dataDir: path.join(tmp, "data"),
        imageSize: 32,
        probePerClass: 2,
        ig: { steps: 4, maxSteps: 4 },
        shouldStop: () => ++polls > 1,
      }),
    ).rejects.toBeInstanceOf(StopRequestedError);
    expect(polls).toBe(2);
    model.dispose();
  });
});

describe("runExplanationQuality", () => {
  const config = (probePerClass: number) =>
    pipelineSchema.parse({
      task: "t",
      seed: 1,
      data: { dir: path.join(tmp, "data"), imageSize: 32, augment: false },
      model: { arch: "mobilenet_v2", dropout: 0.1 },
      stage: { kind: "fe" },
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

  it("scores a saved checkpoint with the run's data set, image size and probePerClass; null for 0", async () => {
    const model = buildTinyClassifier({ imageSize: 32, numClasses: 3, seed: 9 });
    const dir = path.join(tmp, "ckpt");
    await saveCheckpoint(model, dir);
    model.dispose();
    expect(await runExplanationQuality(config(0), dir)).toBeNull();
    const q = await runExplanationQuality(config(1), dir, { ig: { steps: 8, maxSteps: 8 }, curvePoints: 5 });
    expect(q?.probeImages).toBe(3);
    expect(q?.stepsUsed).toBe(8);
    const fields = qualityLogFields(q!);
    expect(Object.keys(fields).sort()).toEqual(
      [
        "baseline",
        "deletionAuc",
        "durationMs",
        "insertionAuc",
        "maskShare",
        "completenessGap",
        "stepsUsed",
        "probeImages",
      ].sort(),
    );
    expect(fields.deletionAuc).toBeCloseTo(q!.deletionAuc, 4);
    expect(fields.baseline).toBe("black");
  }, 60_000);
});
