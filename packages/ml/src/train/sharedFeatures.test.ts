import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type PipelineConfig, pipelineSchema } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { generateSynthetic } from "../data/synth.js";
import { type FeatureStore, featureStoreOverDirs } from "./sharedFeatures.js";
import { trainPipeline } from "./train.js";

// Shared feature entries that cannot be used: a run computes its own features and trains as it
// would have without the store. (Two runs sharing an entry: gpu-worker sharedFeatureDirs.test.ts.)
let tmp: string;
let dataDir: string;
beforeAll(async () => {
  await initBackend("cpu");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-shared-features-"));
  dataDir = path.join(tmp, "data");
  await generateSynthetic({ out: dataDir, n: 30, size: 32, seed: 4 });
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function fe(): PipelineConfig {
  return pipelineSchema.parse({
    task: "t",
    seed: 1,
    data: { dir: dataDir, imageSize: 32, augment: false, cacheFeatures: true },
    model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: 0.1 },
    stage: { kind: "fe" },
    classWeighting: "none",
    train: {
      batchSize: 8,
      epochs: 2,
      learningRate: 1e-3,
      weightDecay: 0,
      earlyStopping: { patience: 50 },
      plateau: { factor: 0.5, patience: 50, minLr: 0 },
    },
    eval: { average: "weighted", probePerClass: 0 },
  });
}

async function train(name: string, featureStore?: FeatureStore) {
  const logs: { msg: string; fields?: Record<string, unknown>; level?: string }[] = [];
  const r = await trainPipeline(fe(), {
    runDir: path.join(tmp, name),
    log: (msg, fields, level) => void logs.push({ msg, fields, level }),
    ...(featureStore ? { featureStore } : {}),
  });
  const history = r.history.map(({ durationMs: _d, imagesPerSec: _i, ...rest }) => rest);
  return { history, testF1: r.test.f1, sha256: r.bestCheckpoint.sha256, logs };
}

describe("shared backbone features that cannot be used", () => {
  it("a truncated entry is reported and the run computes its own pass; a store that cannot keep one changes nothing", async () => {
    const own = await train("own");
    const entries = new Map<string, string>();
    let stores = 0;
    const store = featureStoreOverDirs({
      fetch: async (key) => entries.get(key) ?? null,
      store: async (key, dir) => {
        stores++;
        entries.set(key, dir);
      },
      scratch: path.join(tmp, "scratch"),
    });
    const first = await train("first", store);
    expect(stores).toBe(1);
    const [dir] = [...entries.values()];
    await writeFile(path.join(dir as string, "train.feats.f32"), Buffer.alloc(12));

    const again = await train("truncated", store);
    expect(
      again.logs.find((l) => l.msg === "shared backbone features unreadable; computing them"),
    ).toMatchObject({
      level: "warn",
      fields: { err: expect.stringMatching(/^train\.feats\.f32 in .* has 12 bytes, expected \d+$/) },
    });
    expect(
      again.logs.some((l) => l.msg === "BatchNorm running statistics recalibrated on the training images"),
    ).toBe(true);

    const failing = featureStoreOverDirs({
      fetch: async () => null,
      store: async () => {
        throw new Error("bucket unreachable");
      },
      scratch: path.join(tmp, "scratch-failing"),
    });
    const unkept = await train("unkept", failing);
    expect(
      unkept.logs.find(
        (l) => l.msg === "could not share the backbone features; later runs compute their own",
      ),
    ).toMatchObject({
      level: "warn",
      fields: { err: "bucket unreachable" },
    });
    for (const r of [first, again, unkept]) {
      expect(r.history).toEqual(own.history);
      expect([r.testF1, r.sha256]).toEqual([own.testF1, own.sha256]);
    }
  }, 300_000);
});
