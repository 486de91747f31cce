import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { predictSampleListSchema } from "@xnn/shared/records";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import { type Harness, useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

let root: string;
const TASK = "xray";
// Bytes only need to round-trip: the samples routes never decode them.
const PNG_A = Buffer.from("\x89PNG\r\n\x1a\n-bacteria-sample", "latin1");
const PNG_B = Buffer.from("\x89PNG\r\n\x1a\n-normal-sample-longer", "latin1");
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

const h = useApiHarness({
  seed: seedSamples,
  server: () => ({ dataRoot: root }),
  serverPer: "file",
});

/** A data root with predict/ samples (and files that must not be served), and two runs reading it. */
async function seedSamples({ sql, prisma }: Harness) {
  root = await mkdtemp(path.join(os.tmpdir(), "xnn-samples-"));
  // Data root with one data set that has predict/ (relative data.dir) and one that has not (absolute).
  const predict = path.join(root, "sets/xray/predict");
  await mkdir(path.join(predict, "bacteria"), { recursive: true });
  await mkdir(path.join(predict, "normal"), { recursive: true });
  await mkdir(path.join(predict, ".cache"), { recursive: true });
  await writeFile(path.join(predict, "bacteria/bacteria-predict.png"), PNG_A);
  await writeFile(path.join(predict, "normal/normal-predict.png"), PNG_B);
  await writeFile(path.join(predict, "top.jpg"), JPEG);
  await writeFile(path.join(predict, "notes.txt"), "not an image");
  await writeFile(path.join(predict, ".hidden.png"), PNG_A);
  await writeFile(path.join(predict, ".cache/x.png"), PNG_A);
  await writeFile(path.join(root, "sets/xray/secret.png"), PNG_A);
  await mkdir(path.join(root, "no-predict/train"), { recursive: true });

  await seedRuns(sql, { sweepId: "samples", task: TASK, runs: 2, artifacts: true });
  const dirs = ["sets/xray", path.join(root, "no-predict")];
  for (const i of [0, 1]) {
    await prisma.run.update({
      where: { id: seedRunId("samples", i) },
      data: { config: { task: TASK, data: { dir: dirs[i], imageSize: 32 } } },
    });
  }
}

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const get = (url: string) => h.as("viewer").get(url);

describe("GET /api/predict/samples", () => {
  it("answers 409 while no model has been promoted", async () => {
    const res = await get("/api/predict/samples");
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/no model has been promoted/);
  });

  it("lists the production data set's predict/ images with their class folders", async () => {
    for (const [i, version, alias] of [
      [0, 1, "production"],
      [1, 2, null],
    ] as const) {
      const runId = seedRunId("samples", i);
      await h.prisma.modelVersion.create({
        data: { task: TASK, version, runId, checkpointId: `ckpt-${runId}`, alias },
      });
    }
    const res = await get("/api/predict/samples");
    expect(res.status).toBe(200);
    // The answer is the record the dashboard is typed with.
    predictSampleListSchema.parse(res.body);
    expect(res.body).toMatchObject({
      task: TASK,
      modelVersion: { version: 1, alias: "production", runId: seedRunId("samples", 0) },
      folder: "sets/xray/predict",
      truncated: false,
    });
    // Text files, hidden files and hidden folders are not samples.
    expect(res.body.samples).toEqual([
      { name: "bacteria/bacteria-predict.png", class: "bacteria", sizeBytes: PNG_A.length },
      { name: "normal/normal-predict.png", class: "normal", sizeBytes: PNG_B.length },
      { name: "top.jpg", class: null, sizeBytes: JPEG.length },
    ]);
  });

  it("serves a listed image by name, with its content type", async () => {
    const res = await get("/api/predict/samples/bacteria/bacteria-predict.png").buffer(true);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("image/png");
    expect(Buffer.compare(res.body as Buffer, PNG_A)).toBe(0);

    const encoded = await get(`/api/predict/samples/${encodeURIComponent("normal/normal-predict.png")}`);
    expect(encoded.status).toBe(200);
    expect(Buffer.compare(encoded.body as Buffer, PNG_B)).toBe(0);

    const top = await get("/api/predict/samples/top.jpg");
    expect(top.status).toBe(200);
    expect(top.headers["content-type"]).toBe("image/jpeg");
  });

  it("refuses names that leave the folder or are not images, and 404s a missing one by name", async () => {
    for (const bad of [
      "..%2Fsecret.png",
      "bacteria%2F..%2F..%2Fsecret.png",
      "%2e%2e/secret.png",
      "%2Fetc%2Fpasswd.png",
      "..%5Csecret.png",
      ".hidden.png",
      "notes.txt",
      "a/b/c.png",
      "bacteria%00.png",
    ]) {
      const res = await get(`/api/predict/samples/${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error, bad).toMatch(/bad sample name/);
    }
    const missing = await get("/api/predict/samples/bacteria/nope.png");
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe("no sample bacteria/nope.png in sets/xray/predict");
  });

  it("says which folder is missing, for an explicit model version too", async () => {
    const list = await get("/api/predict/samples?modelVersion=2");
    expect(list.status).toBe(404);
    expect(list.body.error).toBe(
      `model version v2 of task ${TASK}: its data set has no predict/ folder (looked for ${path.join(root, "no-predict")}/predict)`,
    );
    const file = await get("/api/predict/samples/bacteria/bacteria-predict.png?modelVersion=2");
    expect(file.status).toBe(404);
    expect(file.body.error).toMatch(/has no predict\/ folder/);

    const unknown = await get("/api/predict/samples?modelVersion=99");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/no model version 99/);

    await h.prisma.run.update({
      where: { id: seedRunId("samples", 1) },
      data: { config: { task: TASK, data: { imageSize: 32 } } },
    });
    const noDir = await get("/api/predict/samples?modelVersion=2");
    expect(noDir.status).toBe(404);
    expect(noDir.body.error).toMatch(/run config has no data\.dir/);
  });

  it("requires a token", async () => {
    expect((await request(h.server).get("/api/predict/samples")).status).toBe(401);
    expect((await request(h.server).get("/api/predict/samples/top.jpg")).status).toBe(401);
  });
});
