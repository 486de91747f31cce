import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type ArtifactStore, createArtifactStore, pushDataSet, pushPretrainedWeights } from "@xnn/artifacts";
import { startTestS3, type TestS3 } from "@xnn/artifacts/testing";
import { configHash } from "@xnn/ml";
import { type PipelineConfig, pipelineSchema } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localRunConfig } from "./localRunConfig";

// Two worker hosts on one real S3-compatible bucket (s3rver), each with its own cache folder and
// data root: the same submitted config becomes different local paths, and one resume hash.
let s3: TestS3;
let tmp: string;
let storeUrl: string;
const stores: ArtifactStore[] = [];

async function writeFiles(dir: string, files: Record<string, string>): Promise<string> {
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), body);
  }
  return dir;
}

function host(name: string): { artifacts: ArtifactStore; dataRoot: string } {
  const artifacts = createArtifactStore(storeUrl, {
    artifactDir: path.join(tmp, name, "unused"),
    cacheDir: path.join(tmp, name, "cache"),
    cacheBytes: 1024 ** 3,
    env: s3.env,
  });
  stores.push(artifacts);
  return { artifacts, dataRoot: path.join(tmp, name, "data") };
}

function submitted(over: { dataDir: string; weights: string | null; learningRate?: number }): PipelineConfig {
  return pipelineSchema.parse({
    task: "t",
    seed: 1,
    data: { dir: over.dataDir, imageSize: 32, augment: false },
    model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: 0.1, pretrainedDir: over.weights },
    stage: { kind: "fe" },
    classWeighting: "none",
    train: {
      batchSize: 8,
      epochs: 3,
      learningRate: over.learningRate ?? 1e-3,
      weightDecay: 0,
      earlyStopping: { patience: 5 },
      plateau: { factor: 0.5, patience: 2, minLr: 0 },
    },
    eval: { average: "weighted", probePerClass: 0 },
  });
}

beforeAll(async () => {
  s3 = await startTestS3();
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-local-run-config-"));
  storeUrl = `s3://${s3.bucket}/xnn`;
  const pusher = host("pusher");
  const data = await writeFiles(path.join(tmp, "src-data"), {
    "train/a/1.png": "a1",
    "train/b/2.png": "b2",
    "val/a/3.png": "a3",
    "test/b/4.png": "b4",
  });
  await pushDataSet(pusher.artifacts, data, `${storeUrl}/datasets/synth`);
  const weights = await writeFiles(path.join(tmp, "src-weights"), {
    "model.json": "{}",
    "weights.bin": "w",
  });
  await pushPretrainedWeights(pusher.artifacts, weights, `${storeUrl}/weights/imagenet`);
}, 60_000);

afterAll(async () => {
  for (const s of stores) s.close();
  await s3?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("localRunConfig", () => {
  it("two hosts with different cache folders and data roots train on different local paths under one resume hash", async () => {
    const cases = [
      submitted({ dataDir: `${storeUrl}/datasets/synth`, weights: `${storeUrl}/weights/imagenet` }),
      submitted({ dataDir: "data/synthetic", weights: "weights/imagenet" }),
    ];
    for (const config of cases) {
      const a = await localRunConfig(config, host("host-a"));
      const b = await localRunConfig(config, host("host-b"));
      // Each host's paths are its own...
      expect(a.config.data.dir.startsWith(path.join(tmp, "host-a"))).toBe(true);
      expect(b.config.data.dir.startsWith(path.join(tmp, "host-b"))).toBe(true);
      expect(a.config.model.pretrainedDir?.startsWith(path.join(tmp, "host-a"))).toBe(true);
      expect(b.config.model.pretrainedDir?.startsWith(path.join(tmp, "host-b"))).toBe(true);
      // ...the resume hash is the submitted config's, whichever host computes it.
      expect(a.resumeHash).toBe(b.resumeHash);
      expect(a.resumeHash).toBe(configHash(config));
      expect(a.resumeHash).not.toBe(configHash(a.config));
      // The submitted config is left as it was (the job payload is not rewritten).
      expect(config.data.dir).toBe(
        cases.indexOf(config) === 0 ? `${storeUrl}/datasets/synth` : "data/synthetic",
      );
    }
  });

  it("a real change of the submitted config still changes the resume hash", async () => {
    const base = { dataDir: `${storeUrl}/datasets/synth`, weights: `${storeUrl}/weights/imagenet` };
    const hash = async (over: { dataDir?: string; weights?: string | null; learningRate?: number }) =>
      (await localRunConfig(submitted({ ...base, ...over }), host("host-a"))).resumeHash;
    const original = await hash({});
    expect(await hash({ learningRate: 2e-3 })).not.toBe(original);
    expect(await hash({ weights: null })).not.toBe(original);
    expect(await hash({ dataDir: "data/synthetic" })).not.toBe(original);
  });
});
