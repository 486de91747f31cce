import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ArtifactStore, createArtifactStore } from "@xnn/artifacts";
import { startTestS3, type TestS3 } from "@xnn/artifacts/testing";
import { configHash, generateSynthetic } from "@xnn/ml";
import { type PipelineConfig, pipelineSchema } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThreadTrainer, type TrainEvents, type TrainOutcome } from "../training/trainInThread";
import { artifactFeatureDirs, SHARED_FEATURES_PREFIX } from "./sharedFeatureDirs";

// FE runs of one sweep on two worker hosts that share nothing but a real S3-compatible bucket
// (s3rver), each with its own cache folder: the second host's run takes the first one's feature
// pass from the bucket, and trains exactly as it would have on features of its own.
let s3: TestS3;
let tmp: string;
let dataDir: string;
const stores: ArtifactStore[] = [];
let trainer: ThreadTrainer;

beforeAll(async () => {
  s3 = await startTestS3();
  tmp = mkdtempSync(path.join(os.tmpdir(), "xnn-shared-features-"));
  dataDir = path.join(tmp, "data");
  await generateSynthetic({ out: dataDir, n: 30, size: 32, seed: 5 });
  trainer = new ThreadTrainer("wasm");
  await trainer.start();
}, 120_000);
afterAll(async () => {
  await trainer?.close();
  for (const s of stores) s.close();
  await s3?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function host(name: string): ArtifactStore {
  const artifacts = createArtifactStore(`s3://${s3.bucket}/xnn`, {
    artifactDir: path.join(tmp, name, "unused"),
    cacheDir: path.join(tmp, name, "cache"),
    cacheBytes: 1024 ** 3,
    env: s3.env,
  });
  stores.push(artifacts);
  return artifacts;
}

/** An FE run of the sweep: the head's settings vary by point, the backbone (seed) and data do not. */
function fe(point: { learningRate: number; dropout: number; seed?: number }): PipelineConfig {
  return pipelineSchema.parse({
    task: "t",
    seed: point.seed ?? 1,
    data: { dir: dataDir, imageSize: 32, augment: false, cacheFeatures: true },
    model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: point.dropout },
    stage: { kind: "fe" },
    classWeighting: "none",
    train: {
      batchSize: 8,
      epochs: 3,
      learningRate: point.learningRate,
      weightDecay: 0,
      earlyStopping: { patience: 50 },
      plateau: { factor: 0.5, patience: 50, minLr: 0 },
    },
    eval: { average: "weighted", probePerClass: 0 },
  });
}

async function train(
  name: string,
  config: PipelineConfig,
  artifacts: ArtifactStore | null,
): Promise<{ outcome: TrainOutcome; logs: string[]; fields: Map<string, Record<string, unknown>> }> {
  const logs: string[] = [];
  const fields = new Map<string, Record<string, unknown>>();
  const on: TrainEvents = {
    log: (msg, f) => {
      logs.push(msg);
      if (f) fields.set(msg, f);
    },
    epoch: () => {},
    resumed: () => {},
    ...(artifacts ? { features: artifactFeatureDirs(artifacts) } : {}),
  };
  const outcome = await trainer.train(
    {
      config,
      resumeHash: configHash(config),
      runDir: path.join(tmp, "runs", name),
      initFrom: null,
      shareFeatures: artifacts !== null,
    },
    on,
  ).done;
  return { outcome, logs, fields };
}

const PASS = "BatchNorm running statistics recalibrated on the training images";
const SHARED =
  "backbone features and BatchNorm statistics from an earlier run's feature pass (shared feature cache)";
const STORED = "backbone features shared for later runs";
const comparable = (o: TrainOutcome) => ({
  history: o.result.history.map(({ durationMs: _d, imagesPerSec: _i, ...rest }) => rest),
  test: o.result.test,
  bestEpoch: o.result.bestEpoch,
  checkpoint: o.result.checkpoint.sha256,
});

describe("shared backbone features in the artifact store", () => {
  it("a second host's FE run of another point takes the first run's feature pass and trains exactly as on its own; another backbone does not", async () => {
    const a = host("a");
    const b = host("b");
    const first = await train("first", fe({ learningRate: 1e-3, dropout: 0.1 }), a);
    expect(first.logs).toContain(PASS);
    expect(first.logs).not.toContain(SHARED);
    // Its entry is in the bucket, under the content hash, and the other host sees it.
    const key = first.fields.get(STORED)?.key as string;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(await b.stat(b.uriFor(`${SHARED_FEATURES_PREFIX}/${key}`))).not.toBeNull();

    const point = fe({ learningRate: 3e-3, dropout: 0.3 });
    const shared = await train("shared", point, b);
    expect(shared.logs, JSON.stringify([...shared.fields])).toContain(SHARED);
    expect(shared.logs).not.toContain(PASS);
    const own = await train("own", point, null);
    expect(own.logs).toContain(PASS);
    // The same curves, test figures and checkpoint bytes (its recalibrated BatchNorm statistics
    // included) as the run that made its own pass.
    expect(comparable(shared.outcome)).toEqual(comparable(own.outcome));
    expect(shared.fields.get(SHARED)?.key).toBe(key.slice(0, 12));

    // Another backbone initialisation (seed) is another key: a pass of its own, stored beside the first.
    const other = await train("other-seed", fe({ learningRate: 1e-3, dropout: 0.1, seed: 2 }), b);
    expect(other.logs).toContain(PASS);
    expect(other.logs).not.toContain(SHARED);
    expect(other.fields.get(STORED)?.key).not.toBe(key);
  }, 600_000);
});
