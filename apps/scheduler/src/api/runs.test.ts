import { describe, expect, it } from "vitest";
import { listQuery as q, useApiHarness } from "./testing/harness";
import { SEED_CLASSES, seedRunId, seedRuns } from "./testing/seedRuns";

const SWEEP = "seeded-a";
const STATUSES = ["succeeded", "succeeded", "failed", "running", "queued"] as const;

const h = useApiHarness({
  seed: async ({ sql }) => {
    await seedRuns(sql, {
      sweepId: SWEEP,
      task: "xray",
      runs: 60,
      epochs: 5,
      curvePoints: 250,
      artifacts: true,
      statusOf: (i) => STATUSES[i % STATUSES.length]!,
    });
    await seedRuns(sql, { sweepId: "seeded-b", task: "xray", runs: 15, seed: 7 });
    // Explanation quality as the worker writes it, on run 0's test evaluation (run 1 has none).
    await sql`UPDATE "Evaluation" SET "probeImages" = 6, "completenessGap" = 0.031, "stepsUsed" = 83.3,
      "deletionAuc" = 0.21, "insertionAuc" = 0.64, "maskShare" = 0.72, "explainMs" = 4200,
      "explainPerImage" = ${JSON.stringify(PER_IMAGE)}::text::jsonb
    WHERE "runId" = ${seedRunId(SWEEP, 0)} AND split = 'test'`;
  },
});

const PER_IMAGE = [
  {
    path: "test/bacteria/0.png",
    label: 0,
    completenessGap: 0.02,
    stepsUsed: 50,
    deletionAuc: 0.2,
    insertionAuc: 0.6,
    maskShare: 0.72,
  },
];
const EXPLANATION = {
  probeImages: 6,
  completenessGap: 0.031,
  stepsUsed: 83.3,
  deletionAuc: 0.21,
  insertionAuc: 0.64,
  maskShare: 0.72,
  durationMs: 4200,
};

const get = (url: string) => h.as("viewer").get(url);

describe("GET /api/runs", () => {
  it("pages with range and answers Content-Range, exposed through CORS", async () => {
    const res = await get(`/api/runs?${q({ range: [10, 19], sort: ["key", "ASC"] })}`).set(
      "Origin",
      "http://dash.local",
    );
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(10);
    expect(res.headers["content-range"]).toBe("runs 10-19/75");
    expect(res.headers["access-control-expose-headers"]).toContain("Content-Range");
    const all = await get(`/api/runs?${q({ range: [0, 99], sort: ["key", "ASC"] })}`);
    expect(all.body.map((r: { id: string }) => r.id).slice(10, 20)).toEqual(
      res.body.map((r: { id: string }) => r.id),
    );
    const keys = all.body.map((r: { key: string }) => r.key);
    expect(keys).toEqual([...keys].sort());
    const past = await get(`/api/runs?${q({ range: [200, 209] })}`);
    expect(past.body).toEqual([]);
    expect(past.headers["content-range"]).toBe("runs 200-200/75");
  });

  it("rows carry the contract's fields", async () => {
    const res = await get(`/api/runs?${q({ filter: { id: [seedRunId(SWEEP, 0)] } })}`);
    expect(res.body).toHaveLength(1);
    expect(Object.keys(res.body[0]).sort()).toEqual(
      [
        "id",
        "sweepId",
        "key",
        "model",
        "classWeighting",
        "stage",
        "status",
        "attempt",
        "epochsDone",
        "epochs",
        "bestEpoch",
        "bestValF1",
        "bestValLoss",
        "testF1",
        "workerId",
        "queuedAt",
        "startedAt",
        "finishedAt",
        "error",
        "trial",
        "params",
        "pruned",
        "isProduction",
        "explanation",
      ].sort(),
    );
    expect(res.body[0]).toMatchObject({
      id: seedRunId(SWEEP, 0),
      epochs: 5,
      epochsDone: 5,
      isProduction: false,
      stage: "fe",
      queuedAt: "2026-01-01T00:00:00.000Z",
      startedAt: null,
      explanation: EXPLANATION,
    });
    const two = await get(`/api/runs?${q({ filter: { id: [seedRunId(SWEEP, 1), seedRunId(SWEEP, 2)] } })}`);
    // Run 1 succeeded without explanation figures; run 2 failed, so it has no evaluation at all.
    expect(two.body.map((r: { explanation: unknown }) => r.explanation)).toEqual([null, null]);
    const byKey = await get(
      `/api/runs?${q({ filter: { sweepId: SWEEP, q: "RESNET18-balanced-fe-1" }, range: [0, 99] })}`,
    );
    expect(byKey.body.map((r: { key: string }) => r.key).sort()).toEqual(
      ["resnet18-balanced-fe-1", "resnet18-balanced-fe-13", "resnet18-balanced-fe-19"].sort(),
    );
  });

  it("sorts by testF1 descending with unfinished runs last", async () => {
    const res = await get(`/api/runs?${q({ sort: ["testF1", "DESC"], range: [0, 99] })}`);
    const f1 = res.body.map((r: { testF1: number | null }) => r.testF1);
    const firstNull = f1.indexOf(null);
    expect(firstNull).toBeGreaterThan(0);
    expect(f1.slice(firstNull).every((v: number | null) => v === null)).toBe(true);
    const numbers = f1.slice(0, firstNull);
    expect(numbers).toEqual([...numbers].sort((a: number, b: number) => b - a));
    const asc = await get(`/api/runs?${q({ sort: ["testF1", "ASC"], range: [0, 0] })}`);
    expect(asc.body[0].testF1).toBe(Math.min(...numbers));
  });

  it("filters by sweep, status, model, stage and ids, and counts the filtered total", async () => {
    const res = await get(
      `/api/runs?${q({ filter: { sweepId: SWEEP, status: ["succeeded", "failed"], model: "resnet18" }, range: [0, 99] })}`,
    );
    expect(res.body.length).toBeGreaterThan(0);
    for (const r of res.body) {
      expect(r.sweepId).toBe(SWEEP);
      expect(["succeeded", "failed"]).toContain(r.status);
      expect(r.model).toBe("resnet18");
    }
    expect(res.headers["content-range"]).toMatch(new RegExp(`/${res.body.length}$`));
    const other = await get(`/api/runs?${q({ filter: { sweepId: "seeded-b" } })}`);
    expect(other.headers["content-range"]).toBe("runs 0-14/15");
    const ft = await get(`/api/runs?${q({ filter: { stage: "ft" } })}`);
    expect(ft.headers["content-range"]).toBe("runs 0-0/0");
  });

  it("rejects an unknown sort field, filter or malformed JSON with 400", async () => {
    expect((await get(`/api/runs?${q({ sort: ["config", "ASC"] })}`)).status).toBe(400);
    expect((await get(`/api/runs?${q({ filter: { secret: 1 } })}`)).status).toBe(400);
    expect((await get(`/api/runs?${q({ filter: { status: "exploded" } })}`)).status).toBe(400);
    const bad = await get("/api/runs?range=[0,");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/range/);
  });
});

describe("GET /api/runs/:id and its series", () => {
  it("returns the run with evaluations, confusion, checkpoint", async () => {
    const res = await get(`/api/runs/${seedRunId(SWEEP, 0)}`);
    expect(res.status).toBe(200);
    expect(res.body.evaluations.test).toMatchObject({ accuracy: 0.9, microAp: 0.77 });
    expect(res.body.confusion.test.classNames).toEqual(SEED_CLASSES);
    expect(res.body.checkpoint).toMatchObject({ epoch: 4, sizeBytes: 1234 });
    expect(res.body.config.train.epochs).toBe(5);
    expect(res.body.explanation).toEqual({ ...EXPLANATION, perImage: PER_IMAGE });
    expect((await get(`/api/runs/${seedRunId(SWEEP, 1)}`)).body.explanation).toBeNull();
    expect((await get("/api/runs/nope")).status).toBe(404);
  });

  it("metrics are sorted by epoch, split, name", async () => {
    const res = await get(`/api/runs/${seedRunId(SWEEP, 0)}/metrics`);
    expect(res.body).toHaveLength(5 * 4);
    expect(res.body[0]).toMatchObject({ epoch: 0, split: "train", name: "f1" });
    expect(res.body.at(-1)).toMatchObject({ epoch: 4, split: "val", name: "loss" });
  });

  it("curves carry every point and the AP from the evaluation", async () => {
    const res = await get(`/api/runs/${seedRunId(SWEEP, 0)}/curves?split=test`);
    expect(res.body.split).toBe("test");
    expect(Object.keys(res.body.curves).sort()).toEqual([...SEED_CLASSES, "micro"].sort());
    expect(res.body.curves.micro.ap).toBe(0.77);
    expect(res.body.curves.virus.ap).toBeCloseTo(0.9);
    expect(res.body.curves.normal.points).toHaveLength(250);
    expect(res.body.curves.normal.points[0]).toEqual({ recall: 1, precision: 1, threshold: 0 });
  });
});

describe("GET /api/compare", () => {
  it("returns runs in the order asked, epoch series, thinned curves and the config keys that differ", async () => {
    const ids = [seedRunId(SWEEP, 1), seedRunId(SWEEP, 0), seedRunId(SWEEP, 5)];
    const res = await get(`/api/compare?runs=${ids.join(",")}`);
    expect(res.status).toBe(200);
    expect(res.body.runs.map((r: { id: string }) => r.id)).toEqual(ids);
    const [first] = res.body.runs;
    expect(first.epochs.val.f1).toHaveLength(5);
    expect(first.metrics.test).toMatchObject({ f1: first.testF1, accuracy: 0.9 });
    expect(first.confusion.classNames).toEqual(SEED_CLASSES);
    for (const curve of Object.values(first.curves) as { points: { recall: number }[] }[]) {
      expect(curve.points.length).toBeLessThanOrEqual(200);
      expect(curve.points.length).toBeGreaterThan(100);
      expect(curve.points[0]!.recall).toBe(1);
      expect(curve.points.at(-1)!.recall).toBe(0);
    }
    const diffKeys = res.body.configDiff.map((d: { key: string }) => d.key);
    // Runs 0, 1, 5 differ in model, weighting, seed and learning rate; epochs and batch size agree.
    expect(diffKeys).toEqual(
      expect.arrayContaining(["model.arch", "classWeighting", "train.learningRate", "seed"]),
    );
    expect(diffKeys).not.toContain("train.epochs");
    expect(diffKeys).not.toContain("train.batchSize");
    const lr = res.body.configDiff.find((d: { key: string }) => d.key === "train.learningRate");
    expect(lr.values).toEqual({ [ids[0]!]: 0.003, [ids[1]!]: 0.001, [ids[2]!]: 0.01 });
    expect(res.body.runs.map((r: { explanation: unknown }) => r.explanation)).toEqual([
      null,
      EXPLANATION,
      null,
    ]);
    expect(first.metrics.test).not.toHaveProperty("completenessGap");
    expect(res.body).not.toHaveProperty("explanation");
  });

  it("keeps thinned curves of finished runs and drops them when the points change", async () => {
    const id = seedRunId(SWEEP, 10);
    const first = await get(`/api/compare?runs=${id},${seedRunId(SWEEP, 3)}`);
    // Run 3 is still running: only the finished run's summary is kept.
    const kept = await h.sql<{ runId: string }[]>`SELECT "runId" FROM "RunCurveSummary"
      WHERE "runId" IN (${id}, ${seedRunId(SWEEP, 3)})`;
    expect(kept.map((r) => r.runId)).toEqual([id]);
    const again = await get(`/api/compare?runs=${id}`);
    expect(again.body.runs[0].curves).toEqual(first.body.runs[0].curves);

    await h.sql`DELETE FROM "PrCurvePoint" WHERE "runId" = ${id} AND curve = 'virus'`;
    expect(await h.sql`SELECT 1 FROM "RunCurveSummary" WHERE "runId" = ${id}`).toHaveLength(0);
    const after = await get(`/api/compare?runs=${id}`);
    expect(Object.keys(after.body.runs[0].curves).sort()).toEqual(["bacteria", "micro", "normal"]);
  });

  it("refuses more than 500 runs and names unknown ones", async () => {
    const many = Array.from({ length: 501 }, (_, i) => `r${i}`).join(",");
    expect((await get(`/api/compare?runs=${many}`)).status).toBe(400);
    const res = await get(`/api/compare?runs=${seedRunId(SWEEP, 0)},ghost`);
    expect(res.status).toBe(404);
    expect(res.body.missing).toEqual(["ghost"]);
  });
});

describe("GET /api/sweeps", () => {
  it("lists sweeps with run counts and the best test F1", async () => {
    const res = await get(`/api/sweeps?${q({ sort: ["name", "ASC"] })}`);
    expect(res.headers["content-range"]).toBe("sweeps 0-1/2");
    const a = res.body[0];
    expect(a).toMatchObject({ id: SWEEP, runsTotal: 60, runsDone: 24, runsFailed: 12, runsRunning: 12 });
    expect(typeof a.bestTestF1).toBe("number");
    const filtered = await get(`/api/sweeps?${q({ filter: { q: "ED-B" } })}`);
    expect(filtered.body.map((s: { id: string }) => s.id)).toEqual(["seeded-b"]);
    const detail = await get(`/api/sweeps/${SWEEP}`);
    expect(detail.body).toMatchObject({ id: SWEEP, sourceYaml: "seeded", production: null, error: null });
  });
});
