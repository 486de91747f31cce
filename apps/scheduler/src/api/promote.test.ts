import { describe, expect, it } from "vitest";
import { useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

const STATUSES = ["succeeded", "succeeded", "succeeded", "failed"] as const;

// Every test starts from the same 40 runs and no promotions.
const h = useApiHarness({
  reset: async ({ prisma, sql }) => {
    await prisma.promotion.deleteMany();
    await prisma.modelVersion.deleteMany();
    await prisma.sweep.deleteMany();
    await seedRuns(sql, {
      sweepId: "promo",
      task: "xray",
      runs: 40,
      epochs: 2,
      artifacts: true,
      statusOf: (i) => STATUSES[i % STATUSES.length]!,
    });
  },
});

const admin = (url: string) => h.as("admin").post(url);
// Seeded runs carry no per-image predictions, so the promotion guard cannot show one better than
// another: these tests exercise the promotion itself and override the guard (promoteGuard.test.ts tests it).
const overriding = (url: string) =>
  admin(url).send({ override: true, reason: "promotion mechanics under test" });
const succeeded = Array.from({ length: 40 }, (_, i) => i).filter((i) => STATUSES[i % 4] === "succeeded");

describe("promotion", () => {
  it("20 concurrent promotions of different runs leave exactly one production and a consistent audit", async () => {
    const ids = succeeded.slice(0, 20).map((i) => seedRunId("promo", i));
    const results = await Promise.all(ids.map((id) => overriding(`/api/runs/${id}/promote`)));
    expect(results.map((r) => r.status)).toEqual(ids.map(() => 200));

    const production = await h.prisma.modelVersion.findMany({ where: { task: "xray", alias: "production" } });
    expect(production).toHaveLength(1);
    const versions = await h.prisma.modelVersion.findMany({
      where: { task: "xray" },
      orderBy: { version: "asc" },
    });
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // The audit is one unbroken chain: each promotion starts from the version the one before it
    // installed, so walking it from the first (from = null) visits all 20 and ends at production.
    const audit = await h.prisma.promotion.findMany({ where: { task: "xray" } });
    expect(audit).toHaveLength(20);
    const byFrom = new Map(audit.map((a) => [a.fromVersionId, a]));
    expect(byFrom.size).toBe(20);
    let at: string | null = null;
    for (let i = 0; i < 20; i++) at = byFrom.get(at)!.toVersionId;
    expect(at).toBe(production[0]!.id);
    expect(audit.every((a) => a.actor === "ada-admin")).toBe(true);
    expect(audit[0]!.metrics).toMatchObject({ testF1: expect.any(Number), bestValLoss: expect.any(Number) });
  });

  it("20 concurrent promote-best calls promote the best run once", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => admin("/api/sweeps/promo/promote-best")),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.body.changed)).toHaveLength(1);
    const runs = await h.prisma.run.findMany({ where: { status: "succeeded" } });
    const best = [...runs].sort((a, b) => b.testF1! - a.testF1! || a.bestValLoss! - b.bestValLoss!)[0]!;
    const production = await h.prisma.modelVersion.findMany({ where: { alias: "production" } });
    expect(production.map((p) => p.runId)).toEqual([best.id]);
    expect(await h.prisma.promotion.count()).toBe(1);
    expect(new Set(results.map((r) => r.body.versionId)).size).toBe(1);

    const sweep = await h.as("viewer").get("/api/sweeps/promo");
    expect(sweep.body.production).toEqual({ runId: best.id, version: 1 });
    const prod = await h.as("viewer").get("/api/production?task=xray");
    expect(prod.body).toMatchObject({ runId: best.id, alias: "production", version: 1 });
    expect(prod.body.checkpoint.uri).toContain(best.id);
    const row = await h
      .as("viewer")
      .get(`/api/runs?filter=${encodeURIComponent(JSON.stringify({ id: [best.id] }))}`);
    expect(row.body[0].isProduction).toBe(true);
  });

  it("ties on test F1 go to the lower best validation loss", async () => {
    const [a, b] = [seedRunId("promo", 0), seedRunId("promo", 1)];
    await h.prisma.run.updateMany({ where: { id: { in: [a, b] } }, data: { testF1: 0.999 } });
    await h.prisma.run.update({ where: { id: a }, data: { bestValLoss: 0.9 } });
    await h.prisma.run.update({ where: { id: b }, data: { bestValLoss: 0.1 } });
    const res = await admin("/api/sweeps/promo/promote-best");
    expect(res.body.runId).toBe(b);
  });

  it("refuses runs that did not succeed or have no checkpoint with 409, changing nothing", async () => {
    const failed = await admin(`/api/runs/${seedRunId("promo", 3)}/promote`);
    expect(failed.status).toBe(409);
    expect(failed.body.error).toMatch(/failed.*only succeeded/);
    await h.prisma.checkpoint.deleteMany({ where: { runId: seedRunId("promo", 0) } });
    const noCkpt = await admin(`/api/runs/${seedRunId("promo", 0)}/promote`);
    expect(noCkpt.status).toBe(409);
    expect(noCkpt.body.error).toMatch(/checkpoint/);
    expect((await admin("/api/runs/ghost/promote")).status).toBe(404);
    expect(await h.prisma.modelVersion.count()).toBe(0);
    expect(await h.prisma.promotion.count()).toBe(0);
    const none = await h.as("viewer").get("/api/production?task=xray");
    expect(none.status).toBe(404);
  });

  it("re-promoting an earlier run reuses its version; model-versions lists and filters them", async () => {
    const [a, b] = [seedRunId("promo", 0), seedRunId("promo", 1)];
    await admin(`/api/runs/${a}/promote`);
    await overriding(`/api/runs/${b}/promote`);
    const back = await overriding(`/api/runs/${a}/promote`);
    expect(back.body).toMatchObject({ version: 1, changed: true });
    const list = await h.as("viewer").get("/api/model-versions");
    expect(list.headers["content-range"]).toBe("model-versions 0-1/2");
    const prodOnly = await h
      .as("viewer")
      .get(
        `/api/model-versions?filter=${encodeURIComponent(JSON.stringify({ task: "xray", alias: "production" }))}`,
      );
    expect(prodOnly.body).toHaveLength(1);
    expect(prodOnly.body[0]).toMatchObject({
      runId: a,
      version: 1,
      runKey: expect.any(String),
      testF1: expect.any(Number),
    });
    expect(await h.prisma.promotion.count()).toBe(3);
  });
});
