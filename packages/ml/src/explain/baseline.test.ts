import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipelineSchema } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { loadCheckpoint, MODEL_JSON, saveCheckpoint } from "../checkpoint/checkpoint.js";
import { IMAGENET_MEAN, IMAGENET_STD } from "../data/augment.js";
import { decodeImage } from "../data/loader.js";
import { scanDataset } from "../data/scan.js";
import { generateSynthetic } from "../data/synth.js";
import { trainPipeline } from "../train/train.js";
import { classMeanGray, modelBaseline, setModelBaseline } from "./baseline.js";
import { explainPrediction } from "./explainPrediction.js";
import { prepareForExplanation } from "./foldBatchNorm.js";
import { blackBaseline, integratedGradients } from "./integratedGradients.js";
import { explanationQuality } from "./quality.js";
import { buildTinyClassifier } from "./tinyClassifier.js";

const S = 32;
let tmp: string;
let dataDir: string;

beforeAll(async () => {
  await initBackend("wasm");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-baseline-"));
  dataDir = path.join(tmp, "data");
  await generateSynthetic({ out: dataDir, n: 45, size: S, seed: 6 });
}, 60_000);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function normalMean(max?: number) {
  const s = await scanDataset(dataDir);
  const normal = s.splits.train.filter((i) => i.label === s.classNames.indexOf("normal"));
  return { s, normal, mean: await classMeanGray(s.root, normal, S, max) };
}

describe("class-mean IG baseline", () => {
  it("classMeanGray averages the first images in path order at the evaluation preprocessing", async () => {
    const { s, normal, mean } = await normalMean(2);
    expect(mean.images).toBe(2);
    const first = [...normal].sort((a, b) => (a.path < b.path ? -1 : 1)).slice(0, 2);
    const xs = await Promise.all(first.map((i) => decodeImage(path.join(s.root, i.path), { imageSize: S })));
    for (const p of [0, 100, S * S - 1]) {
      const want = xs.reduce((a, x) => a + (x[p * 3] as number) * IMAGENET_STD[0] + IMAGENET_MEAN[0], 0) / 2;
      expect(mean.gray[p]).toBeCloseTo(want, 5);
    }
  });

  it("is stored in the checkpoint and read back normalised; checkpoints without it explain against black", async () => {
    const { mean } = await normalMean();
    const model = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 1 });
    const plain = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 1 });
    setModelBaseline(model, { className: "normal", size: S, ...mean });
    await saveCheckpoint(model, path.join(tmp, "with"));
    await saveCheckpoint(plain, path.join(tmp, "without"));
    const loaded = await loadCheckpoint(path.join(tmp, "with"));
    const b = modelBaseline(loaded);
    expect(b.description).toBe(`mean of ${mean.images} 'normal' training images`);
    for (const p of [0, 517, S * S - 1])
      for (let c = 0; c < 3; c++)
        expect(b.values[p * 3 + c]).toBeCloseTo(
          ((mean.gray[p] as number) - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number),
          5,
        );
    const old = await loadCheckpoint(path.join(tmp, "without"));
    expect(modelBaseline(old)).toEqual({ values: blackBaseline(S, S), description: "black" });
    for (const m of [model, plain, loaded, old]) m.dispose();
  });

  it("a stored record that does not fit the model is an error naming it", async () => {
    const model = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 1 });
    setModelBaseline(model, { className: "normal", images: 1, size: S, gray: new Float32Array(S * S) });
    const dir = path.join(tmp, "bad");
    await saveCheckpoint(model, dir);
    const json = JSON.parse(await readFile(path.join(dir, MODEL_JSON), "utf8"));
    json.userDefinedMetadata.xnnExplainBaseline.size = 16;
    await writeFile(path.join(dir, MODEL_JSON), JSON.stringify(json));
    // The manifest's hash no longer matches, so read it without verification, as a converter output would be.
    await rm(path.join(dir, "manifest.json"));
    const edited = await loadCheckpoint(dir);
    expect(() => modelBaseline(edited)).toThrow(
      /userDefinedMetadata\.xnnExplainBaseline: baseline is 16x16 but the model takes 32x32 inputs/,
    );
    for (const m of [model, edited]) m.dispose();
  });

  it("explainPrediction and explanationQuality use the checkpoint's baseline unless told otherwise", async () => {
    const { s, mean } = await normalMean();
    const model = buildTinyClassifier({ imageSize: S, numClasses: 3, seed: 2 });
    setModelBaseline(model, { className: "normal", size: S, ...mean });
    const item = s.splits.test[0];
    if (!item) throw new Error("no test image");
    const x = await decodeImage(path.join(s.root, item.path), { imageSize: S });
    const e = await explainPrediction({ model, input: x, classNames: s.classNames });
    expect(e.baseline).toBe(`mean of ${mean.images} 'normal' training images`);
    // explainPrediction runs the prepared (folded, fused) model against the stored baseline.
    const prepared = prepareForExplanation(model);
    const direct = await integratedGradients(prepared, x, { baseline: modelBaseline(model).values });
    prepared.dispose();
    expect(Array.from(e.attributions)).toEqual(Array.from(direct.attributions));
    const black = await explainPrediction({
      model,
      input: x,
      classNames: s.classNames,
      ig: { baseline: "black" },
    });
    expect(black.baseline).toBe("black");
    expect(Array.from(black.attributions)).not.toEqual(Array.from(e.attributions));
    const q = await explanationQuality(model, {
      dataDir,
      imageSize: S,
      probePerClass: 1,
      ig: { maxSteps: 50 },
    });
    expect(q.baseline).toBe(e.baseline);
    model.dispose();
  });

  it("trainPipeline records eval.baseline in the checkpoint, and refuses a class the data set lacks before training", async () => {
    const cfg = (meanOf: string) =>
      pipelineSchema.parse({
        task: "ci",
        seed: 1,
        data: { dir: dataDir, imageSize: S, augment: false, cacheFeatures: true },
        model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: 0.2 },
        stage: { kind: "fe" },
        classWeighting: "none",
        train: {
          batchSize: 16,
          epochs: 1,
          learningRate: 1e-3,
          weightDecay: 0,
          earlyStopping: { patience: 2 },
          plateau: { factor: 0.2, patience: 2, minLr: 1e-6 },
        },
        eval: { average: "weighted", probePerClass: 0, baseline: { meanOf } },
      });
    await expect(
      trainPipeline(cfg("healthy"), { runDir: path.join(tmp, "run-bad"), log: () => {} }),
    ).rejects.toThrow(
      /eval\.baseline\.meanOf: "healthy" is not a class in .* \(classes: bacteria, normal, virus\)/,
    );
    const r = await trainPipeline(cfg("normal"), { runDir: path.join(tmp, "run"), log: () => {} });
    const m = await loadCheckpoint(r.bestCheckpoint.dir);
    const { mean } = await normalMean();
    expect(modelBaseline(m).description).toBe(`mean of ${mean.images} 'normal' training images`);
    m.dispose();
  }, 300_000);
});
