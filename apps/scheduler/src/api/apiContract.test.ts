import { readFileSync } from "node:fs";
import path from "node:path";
import {
  auditEventRowSchema,
  cancelResultSchema,
  comparisonSchema,
  epochMetricSchema,
  meSchema,
  modelVersionRowSchema,
  productionModelSchema,
  promotionSchema,
  runCurvesSchema,
  runDetailSchema,
  runRowSchema,
  submitResultSchema,
  sweepAnalysisSchema,
  sweepDetailSchema,
  sweepIssueSchema,
  sweepRowSchema,
  sweepValidationSchema,
  workerRowSchema,
} from "@xnn/shared/records";
import type request from "supertest";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CONF_DIR, type Harness, useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

// Every answer the dashboard reads, taken from the real API over a seeded database and parsed with
// the record schema the dashboard is typed with (packages/shared/src/records). A field renamed or
// retyped on one side only fails here.

const SWEEP = "contract";
const STATUSES = ["succeeded", "succeeded", "failed", "running", "queued"] as const;
const demoYaml = readFileSync(path.join(CONF_DIR, "demo.yaml"), "utf8");

const h = useApiHarness({ seed: seedContract });

/** Runs of every status, one with explanation figures, and a worker. */
async function seedContract({ sql, prisma }: Harness) {
  await seedRuns(sql, {
    sweepId: SWEEP,
    task: "xray",
    runs: 10,
    epochs: 3,
    curvePoints: 20,
    artifacts: true,
    statusOf: (i) => STATUSES[i % STATUSES.length]!,
  });
  // Explanation quality on run 0's test evaluation, as the worker writes it (run 1 has none).
  await sql`UPDATE "Evaluation" SET "probeImages" = 2, "completenessGap" = 0.031, "stepsUsed" = 83.5,
      "deletionAuc" = 0.21, "insertionAuc" = 0.64, "maskShare" = NULL, "explainMs" = 4200,
      "explainPerImage" = ${JSON.stringify([
        {
          path: "test/bacteria/0.png",
          label: 0,
          completenessGap: 0.02,
          stepsUsed: 67,
          deletionAuc: 0.2,
          insertionAuc: 0.6,
          maskShare: null,
        },
        {
          path: "test/normal/0.png",
          label: 1,
          completenessGap: null,
          stepsUsed: 100,
          deletionAuc: 0.22,
          insertionAuc: 0.68,
          maskShare: null,
        },
      ])}::text::jsonb
    WHERE "runId" = ${seedRunId(SWEEP, 0)} AND split = 'test'`;
  await prisma.worker.create({
    data: {
      id: "w-1",
      host: "gpu-1",
      pid: 42,
      gpus: [{ name: "H200" }],
      backend: "tensorflow",
      device: "GPU 0: H200, 143771 MiB",
      version: "0.1.0",
      currentRunId: seedRunId(SWEEP, 3),
    },
  });
}

const viewer = () => h.as("viewer");

/** The body of a 2xx answer, parsed: a schema error names the field that does not match. */
function parsed<T extends z.ZodType>(res: request.Response, schema: T): z.infer<T> {
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBeLessThan(300);
  return schema.parse(res.body);
}

describe("the API answers what @xnn/shared/records says", () => {
  it("runs: list, detail, epoch metrics, curves and comparison", async () => {
    const list = parsed(await viewer().get("/api/runs?range=[0,99]"), z.array(runRowSchema));
    expect(list).toHaveLength(10);
    const row0 = list.find((r) => r.id === seedRunId(SWEEP, 0))!;
    expect(row0.explanation).toEqual({
      probeImages: 2,
      completenessGap: 0.031,
      stepsUsed: 83.5,
      deletionAuc: 0.21,
      insertionAuc: 0.64,
      maskShare: null,
      durationMs: 4200,
    });
    expect(row0.queuedAt).toBe("2026-01-01T00:00:00.000Z");

    const detail = parsed(await viewer().get(`/api/runs/${seedRunId(SWEEP, 0)}`), runDetailSchema);
    expect(detail.explanation?.perImage.map((p) => p.completenessGap)).toEqual([0.02, null]);
    expect(detail.evaluations.test?.perClass.bacteria?.tp).toBe(8);
    expect(detail.confusion.test?.counts).toHaveLength(3);
    // A run without a test evaluation answers its detail too.
    parsed(await viewer().get(`/api/runs/${seedRunId(SWEEP, 4)}`), runDetailSchema);

    const metrics = parsed(
      await viewer().get(`/api/runs/${seedRunId(SWEEP, 0)}/metrics`),
      z.array(epochMetricSchema),
    );
    expect(metrics.length).toBeGreaterThan(0);
    const curves = parsed(await viewer().get(`/api/runs/${seedRunId(SWEEP, 0)}/curves`), runCurvesSchema);
    expect(Object.keys(curves.curves).sort()).toEqual(["bacteria", "micro", "normal", "virus"]);

    const ids = [0, 1, 3].map((i) => seedRunId(SWEEP, i));
    const comparison = parsed(await viewer().get(`/api/compare?runs=${ids.join(",")}`), comparisonSchema);
    expect(comparison.runs.map((r) => r.id)).toEqual(ids);
    expect(comparison.runs[0]!.explanation?.completenessGap).toBe(0.031);
  });

  it("sweeps: list, detail, analysis, validation (and its issues), submission and cancellation", async () => {
    parsed(await viewer().get("/api/sweeps"), z.array(sweepRowSchema));
    const detail = parsed(await viewer().get(`/api/sweeps/${SWEEP}`), sweepDetailSchema);
    expect(detail.runsTotal).toBe(10);
    const analysis = parsed(await viewer().get(`/api/sweeps/${SWEEP}/analysis`), sweepAnalysisSchema);
    expect(analysis.axes.length).toBeGreaterThan(0);

    const validation = parsed(
      await viewer().post("/api/sweeps/validate").send({ yaml: demoYaml }),
      sweepValidationSchema,
    );
    expect(validation.runs.length).toBeGreaterThan(0);
    const bad = await viewer().post("/api/sweeps/validate").send({ yaml: "name: 3\n" });
    expect(bad.status).toBe(400);
    expect(z.array(sweepIssueSchema).min(1).parse(bad.body.issues)).not.toHaveLength(0);

    const operator = h.as("operator");
    const submitted = parsed(await operator.post("/api/sweeps").send({ yaml: demoYaml }), submitResultSchema);
    expect(submitted.created).toBe(true);
    const cancelled = parsed(await operator.post(`/api/sweeps/${submitted.id}/cancel`), cancelResultSchema);
    expect(cancelled.sweepId).toBe(submitted.id);
  });

  it("promotion, model versions, the production model, workers, the audit trail and the caller", async () => {
    const admin = h.as("admin");
    const promotion = parsed(await admin.post(`/api/runs/${seedRunId(SWEEP, 0)}/promote`), promotionSchema);
    expect(promotion.changed).toBe(true);
    const versions = parsed(await viewer().get("/api/model-versions"), z.array(modelVersionRowSchema));
    expect(versions.map((v) => v.runId)).toEqual([seedRunId(SWEEP, 0)]);
    const production = parsed(await viewer().get("/api/production?task=xray"), productionModelSchema);
    expect(production.checkpoint.uri).toContain(seedRunId(SWEEP, 0));
    const compared = parsed(await viewer().get(`/api/compare?runs=${seedRunId(SWEEP, 0)}`), comparisonSchema);
    expect(compared.runs[0]!.isProduction).toBe(true);

    const workers = parsed(await viewer().get("/api/workers"), z.array(workerRowSchema));
    expect(workers.map((w) => w.id)).toEqual(["w-1"]);
    const audit = parsed(await admin.get("/api/audit"), z.array(auditEventRowSchema));
    expect(audit.map((a) => a.action)).toContain("run.promote");
    expect(parsed(await viewer().get("/api/me"), meSchema)).toEqual({ role: "viewer", name: "vera-viewer" });
  });
});
