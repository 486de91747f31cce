import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FileArtifactStore } from "@xnn/artifacts";
import { initBackend, readImageHeader, saveCheckpoint } from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import { predictResponseSchema } from "@xnn/shared/records";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestExplainWorker, type TestExplainWorker } from "./testing/explainWorker";
import { grayPng } from "./testing/grayPng";
import { type Harness, useApiHarness } from "./testing/harness";
import { attachStoredCheckpoint, seedRunId, seedRuns } from "./testing/seedRuns";

let explainWorker: TestExplainWorker;
let tmp: string;
let png: Buffer;
const SIZE = 32;
const TASK = "xray";

const h = useApiHarness({ seed: seedCheckpoints, serverPer: "file" });

/** Two seeded runs, each with a tiny stored checkpoint, and the image the tests upload. */
async function seedCheckpoints({ sql, prisma }: Harness) {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-predict-"));
  await initBackend("auto");
  await seedRuns(sql, { sweepId: "pred", task: TASK, runs: 2, artifacts: true });
  // Two tiny checkpoints that predict differently, one per seeded run.
  for (const i of [0, 1]) {
    const model = buildTinyClassifier({ imageSize: SIZE, numClasses: 3, seed: 10 + i * 7 });
    const dir = path.join(tmp, `ckpt-${i}`);
    await saveCheckpoint(model, dir);
    model.dispose();
    const runId = seedRunId("pred", i);
    // Stored as a worker stores it (ARTIFACT_URL unset): in place, with the store's manifest.
    const stored = await new FileArtifactStore(tmp).putDir(dir, `ckpt-${i}`, {
      digestOf: ["model.json", "weights.bin"],
    });
    await attachStoredCheckpoint(prisma, runId, stored, { task: TASK, imageSize: SIZE });
  }
  png = grayPng(64, 48, (x, y) => ((x - 20) ** 2 + (y - 24) ** 2 < 100 ? 240 : 90));
}

// Explanations are computed by a worker serving the explain queue, as in production.
beforeAll(async () => {
  explainWorker = await startTestExplainWorker(h, h.prefix, new FileArtifactStore(tmp));
});

afterAll(async () => {
  await explainWorker?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const predict = () => h.as("viewer").post("/api/predict");

async function addVersion(i: number, version: number, alias: string | null) {
  const runId = seedRunId("pred", i);
  return h.prisma.modelVersion.create({
    data: { task: TASK, version, runId, checkpointId: `ckpt-${runId}`, alias },
  });
}

describe("POST /api/predict", () => {
  it("answers 409 while no model has been promoted", async () => {
    const res = await predict().attach("image", png, "x.png");
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/no model has been promoted/);
    const withTask = await predict().field("task", TASK).attach("image", png, "x.png");
    expect(withTask.status).toBe(409);
  });

  it("predicts with the production model and returns probabilities, version, gap, steps and a PNG overlay", async () => {
    const v1 = await addVersion(0, 1, "production");
    const res = await predict().attach("image", png, "x.png");
    expect(res.status).toBe(200);
    // The answer is the record the dashboard is typed with.
    predictResponseSchema.parse(res.body);
    expect(Object.keys(res.body.probabilities)).toEqual(["bacteria", "normal", "virus"]);
    const ps = Object.values(res.body.probabilities) as number[];
    expect(ps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(res.body.predictedClass).toBe(
      Object.entries(res.body.probabilities).sort((a, b) => (b[1] as number) - (a[1] as number))[0]![0],
    );
    expect(res.body.modelVersion).toMatchObject({ id: v1.id, version: 1, alias: "production", task: TASK });
    expect(typeof res.body.completenessGap).toBe("number");
    // Adaptive: at least the initial 50 intervals, at most the 1600-interval budget.
    expect(res.body.stepsUsed).toBeGreaterThanOrEqual(50);
    expect(res.body.stepsUsed).toBeLessThanOrEqual(1600);
    // The test checkpoints record no class-mean baseline, so they are explained against black.
    expect(res.body.baseline).toBe("black");
    const overlay = Buffer.from(res.body.overlayPng, "base64");
    const meta = await readImageHeader(overlay);
    expect(meta.format).toBe("png");
    expect(meta.width).toBeGreaterThan(SIZE);
  }, 60_000);

  it("refuses bad uploads with a 4xx that names the problem, and keeps serving", async () => {
    const text = await predict().attach(
      "image",
      Buffer.from("hello, not an image\n".repeat(20)),
      "notes.txt",
    );
    expect(text.status).toBe(415);
    expect(text.body.error).toMatch(/not an image/);

    const truncated = await predict().attach(
      "image",
      png.subarray(0, Math.floor(png.length * 0.6)),
      "broken.png",
    );
    expect(truncated.status).toBe(400);
    expect(truncated.body.error).toMatch(/corrupt/);

    const badHeader = Buffer.from(png);
    badHeader.fill(0xff, 12, 30); // signature intact, IHDR destroyed
    const garbled = await predict().attach("image", badHeader, "garbled.png");
    expect(garbled.status).toBe(400);
    expect(garbled.body.error).toMatch(/corrupt/);

    const big = await predict().attach("image", Buffer.alloc(10 * 1024 * 1024 + 1, 7), "big.png");
    expect(big.status).toBe(413);
    expect(big.body.error).toMatch(/10 MB/);

    // 8000 x 5001 = 40.0 Mpx of one colour compresses to a small file: refused from its header.
    const huge = grayPng(8000, 5001, () => 0);
    expect(huge.length).toBeLessThan(10 * 1024 * 1024);
    const mp = await predict().attach("image", huge, "huge.png");
    expect(mp.status).toBe(413);
    expect(mp.body.error).toMatch(/megapixels/);

    const noFile = await predict().field("task", TASK);
    expect(noFile.status).toBe(400);
    expect(noFile.body.error).toMatch(/field "image"/);

    const json = await predict().send({ image: "x" });
    expect(json.status).toBe(415);

    const unknown = await predict().field("modelVersion", "99").attach("image", png, "x.png");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/no model version 99/);

    const ok = await predict().attach("image", png, "x.png");
    expect(ok.status).toBe(200);
  }, 60_000);

  it("reloads when the production alias moves, and serves an explicit version on request", async () => {
    const before = await predict().attach("image", png, "x.png");
    expect(before.status).toBe(200);
    const v1Id = before.body.modelVersion.id as string;
    const v2 = await addVersion(1, 2, null);
    await h.prisma.$transaction([
      h.prisma.modelVersion.update({ where: { id: v1Id }, data: { alias: null } }),
      h.prisma.modelVersion.update({ where: { id: v2.id }, data: { alias: "production" } }),
    ]);
    const after = await predict().attach("image", png, "x.png");
    expect(after.status).toBe(200);
    expect(after.body.modelVersion).toMatchObject({ id: v2.id, version: 2, alias: "production" });
    expect(after.body.probabilities).not.toEqual(before.body.probabilities);

    const pinned = await predict().field("modelVersion", "1").attach("image", png, "x.png");
    expect(pinned.status).toBe(200);
    expect(pinned.body.modelVersion.id).toBe(v1Id);
    expect(pinned.body.probabilities).toEqual(before.body.probabilities);
    const byId = await predict().field("modelVersion", v2.id).attach("image", png, "x.png");
    expect(byId.body.probabilities).toEqual(after.body.probabilities);
  }, 60_000);

  it("requires a token", async () => {
    const res = await request(h.server).post("/api/predict").attach("image", png, "x.png");
    expect(res.status).toBe(401);
  });
});
