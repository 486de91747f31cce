import { mulberry32 } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { weightedF1 } from "../services/stats/weightedF1";
import { useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

const TEST_IMAGES = 400;
const run = (i: number) => seedRunId("guard", i);

/** A fixed 3-class test set and one run's predictions on it: right with probability `accuracy`. */
function predictionsOf(seed: number, accuracy: number) {
  const truth = mulberry32(1);
  const random = mulberry32(seed);
  return Array.from({ length: TEST_IMAGES }, (_, i) => {
    const label = Math.floor(truth() * 3);
    const predicted = random() < accuracy ? label : (label + 1 + Math.floor(random() * 2)) % 3;
    return { itemPath: `test/c${label}/img-${i}.png`, label, predicted };
  });
}

async function writePredictions(runId: string, rows: ReturnType<typeof predictionsOf>) {
  await h.prisma.prediction.createMany({
    data: rows.map((r) => ({ runId, split: "test", ...r, probabilities: [0.2, 0.3, 0.5] })),
  });
}

const production = predictionsOf(11, 0.7);
const similar = predictionsOf(12, 0.7);
const better = predictionsOf(13, 0.9);

// Every test starts from the same five runs and no promotions.
const h = useApiHarness({
  reset: async ({ prisma, sql }) => {
    await prisma.auditEvent.deleteMany();
    await prisma.promotion.deleteMany();
    await prisma.modelVersion.deleteMany();
    await prisma.sweep.deleteMany();
    await seedRuns(sql, { sweepId: "guard", task: "xray", runs: 5, epochs: 1, artifacts: true });
    await writePredictions(run(0), production);
    await writePredictions(run(1), similar);
    await writePredictions(run(2), better);
    // run 3: no predictions; run 4: a relabelled test set.
    await writePredictions(
      run(4),
      better.map((r, i) => (i < 5 ? { ...r, label: (r.label + 1) % 3 } : r)),
    );
  },
});

const asAdmin = (url: string, body: object = {}) => h.as("admin").post(url).send(body);
const asViewer = (url: string) => h.as("viewer").get(url);

async function productionRun() {
  return (await h.prisma.modelVersion.findFirst({ where: { task: "xray", alias: "production" } }))?.runId;
}

describe("guarded promotion", () => {
  it("with no production model there is nothing to beat: the first promotion goes through", async () => {
    const compared = await asViewer(`/api/runs/${run(1)}/promotion-comparison`);
    expect(compared.body).toMatchObject({ status: "no-production", requiresOverride: false });
    const res = await asAdmin(`/api/runs/${run(0)}/promote`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ changed: true, overridden: false });
  });

  it("shows the comparison before promoting, with the numbers computed by hand", async () => {
    await asAdmin(`/api/runs/${run(0)}/promote`);
    const res = await asViewer(`/api/runs/${run(1)}/promotion-comparison?level=0.05`);
    expect(res.status).toBe(200);
    const labels = production.map((r) => r.label);
    const f1Candidate = weightedF1(
      labels,
      similar.map((r) => r.predicted),
      3,
    );
    const f1Production = weightedF1(
      labels,
      production.map((r) => r.predicted),
      3,
    );
    let candidateOnly = 0;
    let productionOnly = 0;
    production.forEach((p, i) => {
      const c = similar[i]!;
      if (c.predicted === c.label && p.predicted !== p.label) candidateOnly++;
      if (c.predicted !== c.label && p.predicted === p.label) productionOnly++;
    });
    expect(res.body).toMatchObject({
      status: "compared",
      productionRunId: run(0),
      // Neither seeded run has a registered data set version.
      sameDataset: null,
      pairedImages: TEST_IMAGES,
      level: 0.05,
      resamples: 2000,
      better: false,
      requiresOverride: true,
      mcnemar: { candidateOnly, baselineOnly: productionOnly },
    });
    expect(res.body.candidateF1).toBeCloseTo(f1Candidate, 12);
    expect(res.body.productionF1).toBeCloseTo(f1Production, 12);
    expect(res.body.deltaF1).toBeCloseTo(f1Candidate - f1Production, 12);
    expect(res.body.ciLow).toBeLessThan(res.body.deltaF1);
    expect(res.body.ciHigh).toBeGreaterThan(res.body.deltaF1);
    expect(res.body.ciLow).toBeLessThan(0);
  });

  it("refuses a candidate that is not better with 409 and the comparison, changing nothing, and audits the refusal", async () => {
    await asAdmin(`/api/runs/${run(0)}/promote`);
    const shown = await asViewer(`/api/runs/${run(1)}/promotion-comparison`);
    const res = await asAdmin(`/api/runs/${run(1)}/promote`);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/not better than production.*override/);
    // The same seeded bootstrap: the numbers shown are the numbers the promotion was refused on.
    expect(res.body.comparison).toEqual(shown.body);
    expect(await productionRun()).toBe(run(0));
    expect(await h.prisma.promotion.count()).toBe(1);
    const audit = await h.prisma.auditEvent.findFirst({ where: { action: "run.promote", targetId: run(1) } });
    expect(audit).toMatchObject({ outcome: "rejected", status: 409 });
    expect(audit?.details).toMatchObject({
      comparison: { deltaF1: expect.closeTo(shown.body.deltaF1, 12) },
      override: null,
    });
  });

  it("an override needs a reason; with one it promotes and the audit keeps the numbers and the reason", async () => {
    await asAdmin(`/api/runs/${run(0)}/promote`);
    const noReason = await asAdmin(`/api/runs/${run(1)}/promote`, { override: true });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error).toMatch(/override needs a reason/);
    const res = await asAdmin(`/api/runs/${run(1)}/promote`, {
      override: true,
      reason: "smaller model, same F1",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ changed: true, overridden: true, comparison: { better: false } });
    expect(await productionRun()).toBe(run(1));
    const audit = await h.prisma.auditEvent.findFirst({
      where: { action: "run.promote", targetId: run(1), outcome: "ok" },
    });
    expect(audit?.message).toMatch(
      /^override \(reason: smaller model, same F1\): weighted F1 .* McNemar exact p = /,
    );
    expect(audit?.details).toMatchObject({
      override: { reason: "smaller model, same F1" },
      // jsonb keeps 15 significant digits.
      comparison: {
        deltaF1: expect.closeTo(res.body.comparison.deltaF1, 12),
        ciLow: expect.closeTo(res.body.comparison.ciLow, 12),
      },
    });
    const promotion = await h.prisma.promotion.findFirst({ orderBy: { createdAt: "desc" } });
    expect(promotion?.metrics).toMatchObject({ override: { reason: "smaller model, same F1" } });
  });

  it("a candidate better at the level promotes without an override", async () => {
    await asAdmin(`/api/runs/${run(0)}/promote`);
    const shown = await asViewer(`/api/runs/${run(2)}/promotion-comparison`);
    expect(shown.body).toMatchObject({ status: "compared", better: true, requiresOverride: false });
    expect(shown.body.ciLow).toBeGreaterThan(0);
    expect(shown.body.mcnemar.pExact).toBeLessThan(0.05);
    const res = await asAdmin(`/api/runs/${run(2)}/promote`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ overridden: false, comparison: { better: true } });
    // At a level strict enough, the same candidate is no longer shown better.
    const strict = await asViewer(`/api/runs/${run(1)}/promotion-comparison?level=0.000001`);
    expect(strict.body.better).toBe(false);
  });

  it("runs without paired evidence are not comparable and need an override", async () => {
    await asAdmin(`/api/runs/${run(0)}/promote`);
    const none = await asAdmin(`/api/runs/${run(3)}/promote`);
    expect(none.status).toBe(409);
    expect(none.body.comparison).toMatchObject({ status: "not-comparable", requiresOverride: true });
    expect(none.body.comparison.reason).toMatch(/has no per-image test predictions/);
    const relabelled = await asViewer(`/api/runs/${run(4)}/promotion-comparison`);
    expect(relabelled.body).toMatchObject({ status: "not-comparable" });
    expect(relabelled.body.reason).toMatch(/5 test image\(s\) carry a different label/);
  });

  it("promote-best is guarded the same way, and its comparison is shown for the sweep's best run", async () => {
    await asAdmin(`/api/runs/${run(0)}/promote`);
    const best = await h.prisma.run.findFirst({ where: { sweepId: "guard" }, orderBy: { testF1: "desc" } });
    const shown = await asViewer("/api/sweeps/guard/promotion-comparison");
    expect(shown.status).toBe(200);
    expect(shown.body.candidateRunId).toBe(best!.id);
    const res = await asAdmin("/api/sweeps/guard/promote-best");
    if (shown.body.requiresOverride) {
      expect(res.status).toBe(409);
      expect(res.body.comparison).toEqual(shown.body);
      const forced = await asAdmin("/api/sweeps/guard/promote-best", {
        override: true,
        reason: "best on paper",
      });
      expect(forced.status).toBe(200);
    } else {
      expect(res.status).toBe(200);
    }
    expect(await productionRun()).toBe(best!.id);
  });

  it("bad levels and bodies get 400 naming the field", async () => {
    const level = await asViewer(`/api/runs/${run(1)}/promotion-comparison?level=2`);
    expect(level.status).toBe(400);
    expect(level.body.error).toMatch(/level must be a significance level in \(0, 0.5\]/);
    const body = await asAdmin(`/api/runs/${run(1)}/promote`, { override: "yes" });
    expect(body.status).toBe(400);
    expect(body.body.error).toMatch(/override must be true or false/);
    const missing = await asViewer("/api/runs/ghost/promotion-comparison");
    expect(missing.status).toBe(404);
    const viewerPromote = await h
      .as("viewer")
      .post(`/api/runs/${run(1)}/promote`)
      .send({ override: true, reason: "x" });
    expect(viewerPromote.status).toBe(403);
  });
});
