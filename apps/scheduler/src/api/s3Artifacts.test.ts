import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { createArtifactStore, type S3ArtifactStore } from "@xnn/artifacts";
import { startTestS3, type TestS3 } from "@xnn/artifacts/testing";
import { initBackend, saveCheckpoint } from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import type { Queue } from "bullmq";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiServer } from "./createServer";
import { startTestExplainWorker, type TestExplainWorker } from "./testing/explainWorker";
import { grayPng } from "./testing/grayPng";
import { createHarness, createTestServer, type Harness } from "./testing/harness";
import { attachStoredCheckpoint, seedRunId, seedRuns } from "./testing/seedRuns";

// The API on its own host: checkpoints only in a real S3-compatible bucket (s3rver), read through
// a cache directory by the API (checkpoint downloads) and by the worker serving explanations.
let h: Harness;
let s3: TestS3;
let store: S3ArtifactStore;
let server: ApiServer;
let closeServer: () => Promise<void>;
let queue: Queue;
let explainWorker: TestExplainWorker;
let tmp: string;
const TASK = "s3task";
const SIZE = 32;
const uris: string[] = [];
const shas: string[] = [];

beforeAll(async () => {
  h = await createHarness();
  s3 = await startTestS3();
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-api-s3-"));
  store = createArtifactStore(`s3://${s3.bucket}/xnn`, {
    artifactDir: path.join(tmp, "unused"),
    cacheDir: path.join(tmp, "api-cache"),
    cacheBytes: 1024 ** 3,
    env: s3.env,
  }) as S3ArtifactStore;
  await initBackend("auto");
  await seedRuns(h.sql, { sweepId: "s3", task: TASK, runs: 3, artifacts: true });
  for (const i of [0, 1, 2]) {
    const model = buildTinyClassifier({ imageSize: SIZE, numClasses: 3, seed: 3 + i });
    const local = path.join(tmp, `worker-${i}`, "checkpoint");
    await saveCheckpoint(model, local);
    model.dispose();
    const runId = seedRunId("s3", i);
    const stored = await store.putDir(local, `runs/${runId}/checkpoint`, {
      digestOf: ["model.json", "weights.bin"],
    });
    // The worker's copy goes away: this API host never saw it.
    await rm(path.join(tmp, `worker-${i}`), { recursive: true, force: true });
    uris.push(stored.uri);
    shas.push(stored.sha256);
    await attachStoredCheckpoint(h.prisma, runId, stored, { task: TASK, imageSize: SIZE });
    await h.prisma.modelVersion.create({
      data: {
        task: TASK,
        version: i + 1,
        runId,
        checkpointId: `ckpt-${runId}`,
        alias: i === 0 ? "production" : null,
      },
    });
  }
  const t = await createTestServer(h, { artifacts: store });
  server = t.server;
  queue = t.queue;
  closeServer = t.close;
  explainWorker = await startTestExplainWorker(h, t.prefix, store);
}, 120_000);

afterAll(async () => {
  await explainWorker?.close();
  await closeServer?.();
  store?.close();
  await s3?.close();
  await h?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const png = grayPng(40, 40, (x, y) => ((x - 20) ** 2 + (y - 20) ** 2 < 80 ? 230 : 60));
const predict = (version?: number) => {
  const r = request(server).post("/api/predict").set("Authorization", `Bearer ${h.tokens.viewer}`);
  if (version !== undefined) r.field("modelVersion", String(version));
  return r.field("task", TASK).attach("image", png, { filename: "x.png", contentType: "image/png" });
};

describe("the API with ARTIFACT_URL=s3://", () => {
  it("predicts with the production model downloaded from the bucket into its cache", async () => {
    const res = await predict();
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.modelVersion.version).toBe(1);
    expect(await store.cache.entries()).toHaveLength(1);
  });

  it("serves a run's best checkpoint as a tar with its sha256, to operators only", async () => {
    const runId = seedRunId("s3", 0);
    const viewer = await request(server)
      .get(`/api/runs/${runId}/checkpoint`)
      .set("Authorization", `Bearer ${h.tokens.viewer}`);
    expect(viewer.status).toBe(403);
    const res = await request(server)
      .get(`/api/runs/${runId}/checkpoint`)
      .set("Authorization", `Bearer ${h.tokens.operator}`)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => cb(null, Buffer.concat(chunks)));
      });
    expect(res.status).toBe(200);
    expect(res.headers["x-checkpoint-sha256"]).toBe(shas[0]);
    expect(res.headers["content-type"]).toBe("application/x-tar");
    const tarFile = path.join(tmp, "download.tar");
    await writeFile(tarFile, res.body as Buffer);
    execFileSync("tar", ["-xf", tarFile, "-C", tmp]);
    const dir = path.join(tmp, `${runId}-checkpoint`);
    const digest = createHash("sha256")
      .update(await readFile(path.join(dir, "model.json")))
      .update(await readFile(path.join(dir, "weights.bin")))
      .digest("hex");
    expect(digest).toBe(shas[0]);
    const missing = await request(server)
      .get("/api/runs/no-such-run/checkpoint")
      .set("Authorization", `Bearer ${h.tokens.admin}`);
    expect(missing.status).toBe(404);
  });

  it("a model version whose checkpoint was deleted from the bucket: 409 naming it, and the API serves on", async () => {
    await store.delete(uris[1] as string);
    const res = await predict(2);
    expect(res.status).toBe(409);
    expect(res.body.error).toContain("model version 2 of task s3task");
    expect(res.body.error).toContain(`its checkpoint ${uris[1]} is missing from the artifact store`);
    expect((await predict()).status).toBe(200);
  });

  it("a checkpoint whose bytes in the bucket do not match its sha256: 409 naming the object, nothing loaded", async () => {
    const manifest = await store.stat(uris[2] as string);
    const blob = manifest?.files["weights.bin"]?.sha256;
    const key = `${(uris[2] as string).slice(`s3://${s3.bucket}/`.length)}/blobs/${blob}`;
    await store.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: "not the weights" }));
    const res = await predict(3);
    expect(res.status).toBe(409);
    expect(res.body.error).toContain("model version 3 of task s3task");
    expect(res.body.error).toContain(`${uris[2]}: file weights.bin downloaded with sha256`);
    expect((await predict()).status).toBe(200);
  });
});

describe("a submitted sweep's model.pretrainedDir with ARTIFACT_URL=s3://", () => {
  const sweepWithWeights = (dir: string) =>
    `name: s3-weights\nbase: demo-base\noverrides:\n  model.pretrainedDir: ${dir}\naxes:\n  model: [mobilenet_v2]\n  stage: [fe]\n`;

  it("an s3:// prefix inside the artifact store is accepted (pnpm weights:push and data:push write there)", async () => {
    const res = await request(server)
      .post("/api/sweeps/validate")
      .set("Authorization", `Bearer ${h.tokens.viewer}`)
      .send({ yaml: sweepWithWeights(`s3://${s3.bucket}/xnn/weights/imagenet`) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.runs).toHaveLength(1);
    // data.dir goes through the same check: a set pushed with pnpm data:push is accepted, another bucket not.
    const withData = (dir: string) =>
      request(server)
        .post("/api/sweeps/validate")
        .set("Authorization", `Bearer ${h.tokens.viewer}`)
        .send({ yaml: sweepWithWeights("null").replace("model.pretrainedDir: null", `data.dir: ${dir}`) });
    expect((await withData(`s3://${s3.bucket}/xnn/datasets/xray`)).status).toBe(200);
    const other = await withData("s3://other-bucket/datasets/xray");
    expect(other.status).toBe(400);
    expect(other.body.issues[0]).toMatchObject({
      path: "overrides.data.dir",
      message: expect.stringMatching(
        /^data\.dir "s3:\/\/other-bucket\/datasets\/xray" is outside the artifact store/,
      ),
    });
  });

  it.each([
    ["another bucket", "s3://other-bucket/xnn/weights/imagenet"],
    ["the store's bucket outside its prefix", "s3://BUCKET/elsewhere/weights"],
    ["a prefix that climbs out with ..", "s3://BUCKET/xnn/../elsewhere/weights"],
    ["the store's own root", "s3://BUCKET/xnn"],
  ])("%s: 400 naming model.pretrainedDir, no sweep created, nothing enqueued", async (_, written) => {
    const dir = written.replace("BUCKET", s3.bucket);
    const counts = async () => ({
      sweeps: await h.prisma.sweep.count(),
      runs: await h.prisma.run.count(),
      jobs: await queue.count(),
    });
    const before = await counts();
    const res = await request(server)
      .post("/api/sweeps")
      .set("Authorization", `Bearer ${h.tokens.operator}`)
      .send({ yaml: sweepWithWeights(dir) });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([
      expect.objectContaining({
        path: "overrides.model.pretrainedDir",
        message: `model.pretrainedDir ${JSON.stringify(dir)} is outside the artifact store (ARTIFACT_URL s3://${s3.bucket}/xnn); name a prefix inside it`,
      }),
    ]);
    expect(await counts()).toEqual(before);
  });
});
