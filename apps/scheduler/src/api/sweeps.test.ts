import { readFileSync } from "node:fs";
import path from "node:path";
import { cancelKey } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { CONF_DIR, type Role, useApiHarness } from "./testing/harness";

const h = useApiHarness({ reset: ({ prisma }) => prisma.sweep.deleteMany() });
const demoYaml = readFileSync(path.join(CONF_DIR, "demo.yaml"), "utf8");

const post = (url: string, role: Role = "operator") => h.as(role).post(url);

describe("POST /api/sweeps", () => {
  it("creates the sweep's runs and jobs once; a second identical POST creates nothing", async () => {
    const first = await post("/api/sweeps").send({ yaml: demoYaml });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ created: true, runs: 12, jobs: 12, status: "queued" });
    expect(await h.prisma.run.count({ where: { sweepId: first.body.id } })).toBe(12);
    expect(await h.queue.count()).toBe(12);
    const sweep = await h.prisma.sweep.findUniqueOrThrow({ where: { id: first.body.id } });
    expect(sweep.createdBy).toBe("otto-operator");
    expect(sweep.sourceYaml).toBe(demoYaml);

    const second = await post("/api/sweeps").send({ yaml: demoYaml });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, created: false, jobs: 0 });
    expect(await h.prisma.run.count()).toBe(12);
    expect(await h.queue.count()).toBe(12);
  });

  it("accepts a raw text/yaml body, and ?new=1 starts a fresh sweep", async () => {
    const first = await post("/api/sweeps").set("Content-Type", "text/yaml").send(demoYaml);
    expect(first.status).toBe(201);
    const fresh = await post("/api/sweeps?new=1").set("Content-Type", "application/yaml").send(demoYaml);
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(first.body.id);
    expect(await h.queue.count()).toBe(24);
  });

  it("answers a bad sweep with 400, line:col and key path, and writes nothing", async () => {
    const bad = demoYaml.replace(
      "model: [mobilenet_v2, resnet18, convnext_v2_atto]",
      "model: [mobilenet_v2, alexnet]",
    );
    const res = await post("/api/sweeps").send({ yaml: bad });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid sweep");
    const line = bad.split("\n").findIndex((l) => l.includes("alexnet")) + 1;
    const issue = res.body.issues.find((i: { path: string }) => i.path === "axes.model[1]");
    expect(issue).toMatchObject({ line, col: bad.split("\n")[line - 1]!.indexOf("alexnet") + 1 });
    expect(issue.message).toMatch(/alexnet/);
    expect(issue).not.toHaveProperty("file");
    expect(await h.prisma.sweep.count()).toBe(0);
    expect(await h.queue.count()).toBe(0);

    const syntax = await post("/api/sweeps").send({ yaml: "name: x\naxes: [\n" });
    expect(syntax.status).toBe(400);
    expect(syntax.body.issues[0]).toMatchObject({ line: expect.any(Number), col: expect.any(Number) });
  });

  it("a bayes sweep over the API: first points stored with their values; its search shown without the base files; pruned runs listed with their reason", async () => {
    const yaml = `name: api-bayes
base: demo-base
method: bayes
runs: 8
seed: 4
axes:
  model: [resnet18]
  stage: [fe]
  train.learningRate: {loguniform: [0.0001, 0.01]}
earlyTerminate: {method: median, metric: val.loss, minEpochs: 2}
`;
    const res = await post("/api/sweeps").send({ yaml });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ created: true, runs: 3, jobs: 3 });
    const runs = await h.prisma.run.findMany({ where: { sweepId: res.body.id }, orderBy: { trial: "asc" } });
    expect(runs.map((r) => r.trial)).toEqual([0, 1, 2]);
    for (const r of runs) {
      const lr = (r.params as Record<string, number>)["train.learningRate"]!;
      expect((r.config as { train: { learningRate: number } }).train.learningRate).toBe(lr);
    }
    const stored = await h.prisma.sweep.findUniqueOrThrow({ where: { id: res.body.id } });
    expect(Object.keys((stored.search as { bases: object }).bases)).toEqual(["resnet18_fe"]);

    await h.prisma.run.update({
      where: { id: runs[0]!.id },
      data: { status: "pruned", pruned: { reason: "median at epoch 2: ...", numbers: null } },
    });
    const detail = await h.as("viewer").get(`/api/sweeps/${res.body.id}`);
    expect(detail.body.search).toEqual({
      method: "bayes",
      seed: 4,
      runs: 8,
      space: {
        model: ["resnet18"],
        stage: ["fe"],
        "train.learningRate": { loguniform: [0.0001, 0.01] },
      },
      earlyTerminate: { method: "median", metric: "val.loss", minEpochs: 2, reductionFactor: 3, minRuns: 3 },
    });
    expect(detail.body).toMatchObject({ runsTotal: 3, runsPruned: 1 });
    const filter = encodeURIComponent(JSON.stringify({ sweepId: res.body.id, status: "pruned" }));
    const list = await h.as("viewer").get(`/api/runs?filter=${filter}`);
    expect(
      list.body.map((r: { id: string; pruned: unknown; trial: number }) => [r.id, r.pruned, r.trial]),
    ).toEqual([[runs[0]!.id, { reason: "median at epoch 2: ...", numbers: null }, 0]]);
  });

  it("refuses a 10 MB body with 413 and writes nothing", async () => {
    const huge = `${demoYaml}\n# ${"x".repeat(10 * 1024 * 1024)}\n`;
    const res = await post("/api/sweeps").send({ yaml: huge });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(/limit/);
    const raw = await post("/api/sweeps").set("Content-Type", "text/yaml").send(huge);
    expect(raw.status).toBe(413);
    expect(await h.prisma.sweep.count()).toBe(0);
  });

  it("refuses a body that is neither {yaml} JSON nor text", async () => {
    const res = await post("/api/sweeps").send({ sweep: demoYaml });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/yaml/);
  });
});

describe("POST /api/sweeps/validate", () => {
  it("previews the expansion without writing", async () => {
    const res = await post("/api/sweeps/validate", "viewer").send({ yaml: demoYaml });
    expect(res.status).toBe(200);
    expect(res.body.runs).toHaveLength(12);
    const ft = res.body.runs.find((r: { stage: string }) => r.stage === "ft");
    expect(ft).toMatchObject({ model: expect.any(String), dependsOn: expect.any(String) });
    expect(ft.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(await h.prisma.sweep.count()).toBe(0);
    const bad = await post("/api/sweeps/validate", "viewer").send({ yaml: "name: 3\n" });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.length).toBeGreaterThan(0);
  });
});

describe("POST /api/sweeps/:id/cancel", () => {
  it("removes waiting jobs, cancels their runs and flags the running one", async () => {
    const created = await post("/api/sweeps").send({ yaml: demoYaml });
    const sweepId = created.body.id as string;
    // Every run job carries a priority (longest chain first), so the ready ones are "prioritized".
    expect(await h.queue.getJobCounts("wait", "prioritized", "waiting-children")).toEqual({
      wait: 0,
      prioritized: 6,
      "waiting-children": 6,
    });
    // One FE run is in a worker's hands: the database says running and its job is gone from the queue.
    const running = await h.prisma.run.findFirstOrThrow({
      where: { sweepId, stage: "fe" },
      orderBy: { key: "asc" },
    });
    await h.prisma.run.update({
      where: { id: running.id },
      data: { status: "running", startedAt: new Date() },
    });
    await h.redis.del(cancelKey(running.id));

    const res = await post(`/api/sweeps/${sweepId}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.signalledRuns).toEqual([running.id]);
    expect(res.body.cancelledRuns).toBe(11);
    expect(await h.redis.exists(cancelKey(running.id))).toBe(1);
    expect(await h.redis.ttl(cancelKey(running.id))).toBeGreaterThan(0);
    const counts = await h.queue.getJobCounts("wait", "prioritized", "waiting-children", "delayed");
    // Only the running run's job may remain (its FT parent is gone, so nothing waits on it).
    expect(counts["waiting-children"]).toBe(0);
    const left = (counts.wait ?? 0) + (counts.prioritized ?? 0);
    expect(left).toBeLessThanOrEqual(1);
    const remaining = await h.queue.getJobs(["wait", "prioritized", "waiting-children", "delayed"]);
    expect(remaining.map((j) => j.id)).toEqual(left ? [running.jobId] : []);
    expect(await h.prisma.run.count({ where: { sweepId, status: "cancelled" } })).toBe(11);
    expect((await h.prisma.sweep.findUniqueOrThrow({ where: { id: sweepId } })).status).toBe("cancelled");
    await h.redis.del(cancelKey(running.id));

    expect((await post("/api/sweeps/nope/cancel")).status).toBe(404);
  });
});
