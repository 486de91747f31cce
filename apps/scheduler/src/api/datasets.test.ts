import { type DatasetVersionInput, linkRunDataset, registerDatasetVersion } from "@xnn/db";
import { mulberry32 } from "@xnn/shared";
import {
  datasetDetailSchema,
  datasetImageSchema,
  datasetRowSchema,
  datasetVersionSchema,
  imageDetailSchema,
  versionRunSchema,
} from "@xnn/shared/records";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type Harness, listQuery as q, useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

const CLASSES = ["bacteria", "normal", "virus"];
const ROOT = "/data/xray";
const PER_SPLIT = { train: 90, val: 15, test: 60 } as const;
let v1: string;
let v2: string;
let datasetId: string;
const run = (i: number) => seedRunId("dsweep", i);

function description(fingerprint: string): DatasetVersionInput {
  const images: DatasetVersionInput["images"] = [];
  const classCounts: Record<string, Record<string, number>> = {};
  for (const [split, n] of Object.entries(PER_SPLIT)) {
    classCounts[split] = Object.fromEntries(CLASSES.map((c) => [c, 0]));
    for (let i = 0; i < n; i++) {
      const label = i % 3;
      classCounts[split]![CLASSES[label]!]!++;
      const path = `${split}/${CLASSES[label]}/img-${String(i).padStart(3, "0")}.png`;
      images.push({
        path,
        split,
        label,
        width: 64,
        height: 64,
        format: "png",
        bytes: 1000 + i,
        maskPath: label === 0 ? `masks/${path}` : null,
        error: null,
      });
    }
  }
  return {
    root: ROOT,
    classNames: CLASSES,
    fingerprint,
    imageCount: images.length,
    classCounts,
    formats: { png: images.length },
    sizes: {
      minWidth: 64,
      maxWidth: 64,
      minHeight: 64,
      maxHeight: 64,
      common: [{ width: 64, height: 64, count: images.length }],
    },
    unreadable: [],
    maskCount: images.filter((im) => im.maskPath).length,
    images,
  };
}

/** Run i's test predictions: a seeded softmax-like vector, right about 70% of the time. */
function predictionsOf(i: number) {
  const random = mulberry32(100 + i);
  return description("x")
    .images.filter((im) => im.split === "test")
    .map((im) => {
      const predicted = random() < 0.7 ? im.label : (im.label + 1) % 3;
      const top = 0.4 + random() * 0.59;
      const probabilities = [0, 1, 2].map((k) => (k === predicted ? top : (1 - top) / 2));
      return { itemPath: im.path, label: im.label, predicted, probabilities };
    });
}

const h = useApiHarness({ seed: seedDatasets, serverPer: "file" });

/** Three runs, two data set versions they trained on, and the test predictions of runs 0 and 1. */
async function seedDatasets({ sql, prisma }: Harness) {
  await seedRuns(sql, { sweepId: "dsweep", task: "xray", runs: 3, epochs: 1, artifacts: true });
  const a = await registerDatasetVersion(sql, description("a".repeat(64)), "data:split");
  const b = await registerDatasetVersion(sql, description("b".repeat(64)), "worker:w1");
  v1 = a.versionId;
  v2 = b.versionId;
  datasetId = a.datasetId;
  await linkRunDataset(sql, run(0), v1);
  await linkRunDataset(sql, run(1), v1);
  await linkRunDataset(sql, run(2), v2);
  for (const i of [0, 1]) {
    await prisma.prediction.createMany({
      data: predictionsOf(i).map((p) => ({ runId: run(i), split: "test", ...p })),
    });
  }
}

const get = (url: string) => h.as("viewer").get(url);

describe("data set records", () => {
  it("lists data sets and shows every version with its counts and runs", async () => {
    const list = await get("/api/datasets");
    expect(list.status).toBe(200);
    expect(list.headers["content-range"]).toBe("datasets 0-0/1");
    expect(list.body[0]).toMatchObject({
      id: datasetId,
      name: "xray",
      root: ROOT,
      versions: 2,
      latestVersionId: v2,
    });
    const one = await get(`/api/datasets/${datasetId}`);
    expect(one.body.versionList.map((v: { id: string; runs: number }) => [v.id, v.runs])).toEqual([
      [v2, 1],
      [v1, 2],
    ]);
    expect(one.body.versionList[1]).toMatchObject({
      fingerprint: "a".repeat(64),
      registeredBy: "data:split",
      classCounts: { test: { bacteria: 20, normal: 20, virus: 20 } },
      imageCount: 165,
      maskCount: 55,
    });
    const runs = await get(`/api/dataset-versions/${v1}/runs`);
    expect(runs.body.map((r: { id: string }) => r.id).sort()).toEqual([run(0), run(1)]);
    expect((await get("/api/datasets/nope")).status).toBe(404);
    expect((await get("/api/dataset-versions/nope")).status).toBe(404);
  });

  it("flags a sweep whose runs trained on different versions of one data set", async () => {
    const res = await get("/api/sweeps/dsweep/datasets");
    expect(res.body).toMatchObject({ changed: true, changedRoots: [ROOT], runsWithoutDataset: 0 });
    expect(res.body.versions.map((v: { versionId: string; runs: number }) => [v.versionId, v.runs])).toEqual([
      [v1, 2],
      [v2, 1],
    ]);
    await linkRunDataset(h.sql, run(2), v1);
    expect((await get("/api/sweeps/dsweep/datasets")).body).toMatchObject({
      changed: false,
      changedRoots: [],
    });
    await linkRunDataset(h.sql, run(2), v2);
  });
});

describe("data set images", () => {
  it("pages through a version's images without overlap or gaps", async () => {
    const seen: string[] = [];
    for (let start = 0; start < 165; start += 50) {
      const res = await get(`/api/dataset-versions/${v1}/images?${q({ range: [start, start + 49] })}`);
      expect(res.status).toBe(200);
      const end = Math.min(start + 49, 164);
      expect(res.headers["content-range"]).toBe(`images ${start}-${end}/165`);
      seen.push(...res.body.map((r: { path: string }) => r.path));
    }
    expect(seen).toHaveLength(165);
    expect(new Set(seen).size).toBe(165);
    expect(seen).toEqual([...seen].sort());
  });

  it("filters by split and class, and by one run's wrong predictions, with the totals counted by hand", async () => {
    const byClass = await get(
      `/api/dataset-versions/${v1}/images?${q({ filter: { split: "test", class: "virus" }, range: [0, 99] })}`,
    );
    expect(byClass.headers["content-range"]).toBe("images 0-19/20");
    expect(
      byClass.body.every(
        (r: { split: string; className: string }) => r.split === "test" && r.className === "virus",
      ),
    ).toBe(true);
    expect(byClass.body[0].prediction).toBeNull();

    const expected = predictionsOf(0).filter((p) => p.predicted !== p.label);
    const wrong = await get(
      `/api/dataset-versions/${v1}/images?${q({ filter: { runId: run(0), correct: false }, sort: ["confidence", "DESC"], range: [0, 99] })}`,
    );
    expect(wrong.status).toBe(200);
    expect(wrong.headers["content-range"]).toBe(`images 0-${expected.length - 1}/${expected.length}`);
    const confidences = wrong.body.map(
      (r: { prediction: { confidence: number } }) => r.prediction.confidence,
    );
    expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
    for (const row of wrong.body) {
      const p = expected.find((e) => e.itemPath === row.path)!;
      expect(row.prediction).toMatchObject({
        predicted: p.predicted,
        predictedClass: CLASSES[p.predicted],
        correct: false,
      });
      expect(row.prediction.confidence).toBeCloseTo(p.probabilities[p.predicted]!, 12);
      expect(row.prediction.loss).toBeCloseTo(-Math.log(p.probabilities[p.label]!), 12);
    }

    const predictedNormal = predictionsOf(0).filter((p) => p.predicted === 1 && p.probabilities[1]! >= 0.8);
    const res = await get(
      `/api/dataset-versions/${v1}/images?${q({ filter: { runId: run(0), predicted: "normal", minConfidence: 0.8 }, sort: ["loss", "DESC"] })}`,
    );
    expect(res.headers["content-range"]).toMatch(new RegExp(`/${predictedNormal.length}$`));
    const losses = res.body.map((r: { prediction: { loss: number } }) => r.prediction.loss);
    expect(losses).toEqual([...losses].sort((a, b) => b - a));

    const masked = await get(
      `/api/dataset-versions/${v1}/images?${q({ filter: { hasMask: true }, range: [0, 0] })}`,
    );
    expect(masked.headers["content-range"]).toBe("images 0-0/55");
  });

  it("bad filters and sorts get 400 naming what is wrong", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ filter: { split: "holdout" } }, /filter.split must be one of train, val, test/],
      [
        { filter: { class: "dog" } },
        /filter.class "dog" is not a class of this data set; one of bacteria, normal, virus/,
      ],
      [{ filter: { runId: run(0), correct: "maybe" } }, /filter.correct must be true or false/],
      [{ filter: { runId: run(0), minConfidence: 2 } }, /filter.minConfidence must be a number in \[0, 1\]/],
      [{ filter: { correct: false } }, /correct need filter.runId/],
      [{ sort: ["confidence", "DESC"] }, /sort by confidence need filter.runId/],
      [{ sort: ["size", "ASC"] }, /cannot sort by size/],
      [{ filter: { colour: "red" } }, /cannot filter by colour/],
      [{ filter: { runId: "ghost" } }, /filter.runId ghost: no such run/],
      [{ range: [0, 5000] }, /at most 1000 per request/],
    ];
    for (const [params, message] of cases) {
      const res = await get(`/api/dataset-versions/${v1}/images?${q(params)}`);
      expect(res.status, JSON.stringify(params)).toBe(400);
      expect(res.body.error).toMatch(message);
    }
  });

  it("one image comes with every linked run's prediction for it", async () => {
    const path = predictionsOf(0)[4]!.itemPath;
    const res = await get(`/api/dataset-versions/${v1}/image?path=${encodeURIComponent(path)}`);
    expect(res.status).toBe(200);
    expect(res.body.image).toMatchObject({
      path,
      split: "test",
      className: CLASSES[predictionsOf(0)[4]!.label],
    });
    expect(res.body.predictions.map((p: { runId: string }) => p.runId)).toEqual([run(0), run(1)]);
    for (const p of res.body.predictions) {
      const mine = predictionsOf(p.runId === run(0) ? 0 : 1)[4]!;
      expect(p).toMatchObject({
        predicted: mine.predicted,
        correct: mine.predicted === mine.label,
        isProduction: false,
      });
    }
    expect((await get(`/api/dataset-versions/${v1}/image?path=test/none.png`)).status).toBe(404);
    expect((await get(`/api/dataset-versions/${v1}/image`)).status).toBe(400);
  });
});

describe("data set answers and the dashboard's records", () => {
  it("every data set answer parses with the record schema the dashboard is typed with (@xnn/shared/records)", async () => {
    const parsed = async <T extends z.ZodType>(url: string, schema: T): Promise<z.infer<T>> => {
      const res = await get(url);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return schema.parse(res.body);
    };
    // Strict: each answer holds exactly the fields of its schema, none the dashboard does not know.
    const list = await parsed("/api/datasets", z.array(datasetRowSchema.strict()));
    expect(list.map((d) => d.id)).toEqual([datasetId]);
    const detail = await parsed(
      `/api/datasets/${datasetId}`,
      datasetDetailSchema.extend({ versionList: z.array(datasetVersionSchema.strict()) }).strict(),
    );
    expect(detail.versionList.map((v) => v.id)).toEqual([v2, v1]);
    expect(detail.versionList[0]?.sizes).toEqual({
      minWidth: 64,
      maxWidth: 64,
      minHeight: 64,
      maxHeight: 64,
      common: [{ width: 64, height: 64, count: 165 }],
    });
    const version = await parsed(`/api/dataset-versions/${v1}`, datasetVersionSchema.strict());
    expect(version).toEqual(detail.versionList[1]);
    const runs = await parsed(`/api/dataset-versions/${v1}/runs`, z.array(versionRunSchema.strict()));
    expect(runs.map((r) => r.id).sort()).toEqual([run(0), run(1)]);
    const images = await parsed(
      `/api/dataset-versions/${v1}/images?${q({ range: [0, 9], filter: { runId: run(0), split: "test" } })}`,
      z.array(datasetImageSchema.strict()),
    );
    expect(images).toHaveLength(10);
    expect(images.every((im) => im.prediction !== null)).toBe(true);
    const path = predictionsOf(0)[4]!.itemPath;
    const image = await parsed(
      `/api/dataset-versions/${v1}/image?path=${encodeURIComponent(path)}`,
      imageDetailSchema.strict(),
    );
    expect(image.image.path).toBe(path);
  });
});
