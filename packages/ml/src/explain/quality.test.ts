import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { scanDataset } from "../data/scan.js";
import { generateSynthetic } from "../data/synth.js";
import { explanationQuality, probeSet } from "./quality.js";
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
    expect(q.meanCompletenessGap).toBeGreaterThanOrEqual(0);
    for (const v of [q.deletionAuc, q.insertionAuc]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    // The synthetic set writes a mask for every image (empty for normal).
    expect(q.perImage.some((p) => p.maskShare !== null)).toBe(true);
    model.dispose();
  }, 120_000);
});
