import { readFileSync } from "node:fs";
import path from "node:path";
import { testQueuePrefix } from "@xnn/db/testing";
import { loadSweepText, RUN_JOB_NAME, RUNS_QUEUE } from "@xnn/shared";
import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { submit, sweepEnded } from "./testing/faultHarness";
import { repoRoot, waitFor } from "./testing/workerHarness";
import { useWorkerStack } from "./testing/workerStack";

// Real Postgres, real Redis, real worker processes training real (tiny) models.
const stack = useWorkerStack({ label: "worker", images: 90, seed: 3 });

/** conf/demo.yaml (or a variant of it) scaled down to test size with overrides. */
function demoSweep(overrides: Record<string, unknown>, axes?: Record<string, unknown[]>) {
  const doc = parse(readFileSync(path.join(repoRoot, "conf/demo.yaml"), "utf8")) as Record<string, unknown>;
  doc.overrides = { "data.dir": stack.dataDir, "data.imageSize": 32, "train.batchSize": 16, ...overrides };
  if (axes) doc.axes = axes;
  return loadSweepText(stringify(doc), { baseDir: path.join(repoRoot, "conf") });
}

const workerEnv = (prefix: string, overrides: Record<string, string> = {}) =>
  stack.workerEnv(prefix, {
    XNN_LOCK_DURATION_MS: "15000",
    XNN_STALLED_INTERVAL_MS: "3000",
    XNN_SHUTDOWN_TIMEOUT_MS: "30000",
    ...overrides,
  });

async function duplicateMetricCount(): Promise<number> {
  const rows = await stack.prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM (SELECT 1 FROM "EpochMetric" GROUP BY "runId", epoch, split, name HAVING count(*) > 1) d`;
  return Number(rows[0]!.n);
}

/** The stored explanation-quality figures of a run's test evaluation are present and in range. */
async function expectExplanationQuality(runId: string, probes: number) {
  const rows = await stack.prisma.evaluation.findMany({ where: { runId } });
  expect(rows.map((e) => e.split)).toEqual(["test"]);
  const e = rows[0]!;
  expect(e.probeImages, `run ${runId}`).toBe(probes);
  expect(e.completenessGap).toBeGreaterThanOrEqual(0);
  expect(e.stepsUsed).toBeGreaterThanOrEqual(50);
  expect(e.stepsUsed).toBeLessThanOrEqual(1600);
  // The synthetic set has a lesion mask for every image, so the mask share exists.
  for (const v of [e.deletionAuc, e.insertionAuc, e.maskShare]) {
    expect(v).not.toBeNull();
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(1);
  }
  expect(e.explainMs).toBeGreaterThan(0);
  const perImage = e.explainPerImage as { path: string; completenessGap: number; deletionAuc: number }[];
  expect(perImage).toHaveLength(probes);
  for (const p of perImage) {
    expect(p.path.startsWith("test/")).toBe(true);
    expect(p.completenessGap).toBeGreaterThanOrEqual(0);
    expect(p.deletionAuc).toBeGreaterThanOrEqual(0);
    expect(p.deletionAuc).toBeLessThanOrEqual(1);
  }
  return e;
}

describe("gpu-worker", () => {
  it("a successful run stores its explanation quality beside its test evaluation, and logs it", async () => {
    const prefix = testQueuePrefix();
    const loaded = demoSweep(
      { "train.epochs": 1, "eval.probePerClass": 1 },
      { model: ["mobilenet_v2"], stage: ["fe"] },
    );
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    const run = await stack.prisma.run.findFirstOrThrow({ where: { sweepId } });
    const worker = stack.spawn(workerEnv(prefix));
    await waitFor("the run to finish", () => sweepEnded(stack.prisma, sweepId), 300_000, 500);
    const done = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(done.status, `${done.error}\n${worker.output().slice(-3000)}`).toBe("succeeded");
    const e = await expectExplanationQuality(run.id, 3);
    // The worker registered the data set on its first use and linked the run to that version.
    const linked = await stack.prisma.run.findUniqueOrThrow({
      where: { id: run.id },
      select: { datasetVersion: { select: { registeredBy: true, imageCount: true, unreadable: true } } },
    });
    expect(linked.datasetVersion).toMatchObject({
      registeredBy: expect.stringMatching(/^worker:/),
      unreadable: [],
    });
    expect(linked.datasetVersion?.imageCount).toBeGreaterThan(0);
    const line = worker
      .output()
      .split("\n")
      .find((l) => l.includes('"explanation quality (best checkpoint)"'));
    expect(line, worker.output().slice(-3000)).toBeDefined();
    const logged = JSON.parse(line!) as Record<string, unknown>;
    expect(logged).toMatchObject({ runId: run.id, probeImages: 3, durationMs: e.explainMs });
    console.info(
      `explanation quality of a 1-epoch mobilenet_v2 fe run at 32 px, 3 probe images: ${e.explainMs} ms (mean ${e.stepsUsed} IG steps)`,
    );
    worker.child.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
  }, 360_000);

  it("two worker processes run the demo sweep: every run succeeds with all its results, FT from its FE checkpoint", async () => {
    const prefix = testQueuePrefix();
    // One probe image per class keeps the explanation-quality step of the 12 runs cheap.
    const loaded = demoSweep({ "train.epochs": 2, "eval.probePerClass": 1 });
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    stack.spawn(workerEnv(prefix));
    stack.spawn(workerEnv(prefix));
    const sweep = await waitFor(
      "the demo sweep to finish",
      () => sweepEnded(stack.prisma, sweepId),
      840_000,
      1000,
    ).catch((err) => {
      throw new Error(
        `${err.message}\n--- worker output ---\n${stack.workers.map((w) => w.output().slice(-3000)).join("\n---\n")}`,
      );
    });
    const runs = await stack.prisma.run.findMany({
      where: { sweepId },
      include: {
        evaluations: true,
        confusions: true,
        checkpoints: true,
        feRun: { include: { checkpoints: true } },
      },
    });
    expect(runs.filter((r) => r.status !== "succeeded").map((r) => `${r.key}: ${r.error}`)).toEqual([]);
    expect(sweep.status).toBe("succeeded");
    expect(runs).toHaveLength(12);
    for (const run of runs) {
      const epochs = await stack.prisma.epochMetric.findMany({
        where: { runId: run.id, split: "val", name: "f1" },
      });
      expect(epochs.map((e) => e.epoch).sort()).toEqual(
        Array.from({ length: run.epochsDone }, (_, i) => i + 1),
      );
      expect(run.evaluations.map((e) => e.split)).toEqual(["test"]);
      await expectExplanationQuality(run.id, 3);
      expect(run.confusions).toHaveLength(1);
      expect(
        await stack.prisma.prCurvePoint.count({ where: { runId: run.id, curve: "micro" } }),
      ).toBeGreaterThan(1);
      expect(await stack.prisma.prediction.count({ where: { runId: run.id } })).toBeGreaterThan(0);
      expect(run.checkpoints.filter((c) => c.kind === "best")).toHaveLength(1);
      if (run.stage === "ft") {
        expect(run.feRun?.status).toBe("succeeded");
        const queue = new Queue(RUNS_QUEUE, { connection: stack.redis, prefix });
        const logs = await queue.getJobLogs(run.jobId);
        const feUri = run.feRun!.checkpoints.find((c) => c.kind === "best")!.uri;
        expect(logs.logs.join("\n")).toContain(`starting from FE checkpoint ${new URL(feUri).pathname}`);
        await queue.close();
      }
    }
    expect(await duplicateMetricCount()).toBe(0);
    const workerRows = await stack.prisma.worker.findMany();
    expect(workerRows.length).toBeGreaterThanOrEqual(2);
    // The registry holds the backend in use and its device, not the "auto"/"wasm" that was asked for.
    for (const w of workerRows) {
      expect(w.backend).toBe("wasm");
      expect(w.device).toMatch(/^CPU: /);
    }
    // Each worker process loaded its backend once, in one training thread, for all of its runs
    // (12 runs over 2 processes: one of them ran at least 6).
    const succeeded = stack.workers.map((w) =>
      w
        .output()
        .split("\n")
        .filter((l) => l.includes('"msg":"run succeeded"'))
        .map((l) => (JSON.parse(l) as { backendInits: number }).backendInits),
    );
    expect(Math.max(...succeeded.map((s) => s.length))).toBeGreaterThanOrEqual(3);
    for (const inits of succeeded) for (const n of inits) expect(n).toBe(1);
    for (const w of stack.workers.splice(0)) {
      w.child.kill("SIGTERM");
      expect((await w.exited).code).toBe(0);
    }
    expect(await stack.prisma.worker.count({ where: { status: "gone" } })).toBe(workerRows.length);
  }, 900_000);

  it("a worker killed with SIGKILL mid-run: another resumes after the last epoch, every epoch exactly once", async () => {
    const prefix = testQueuePrefix();
    const loaded = demoSweep(
      {
        "train.epochs": 6,
        "data.cacheFeatures": false,
        "data.augment": true,
        "train.earlyStopping.patience": 10,
        "eval.probePerClass": 2,
      },
      { model: ["mobilenet_v2"], stage: ["fe"] },
    );
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    const run = await stack.prisma.run.findFirstOrThrow({ where: { sweepId } });
    const first = stack.spawn(workerEnv(prefix));
    await waitFor(
      "epoch 2 of the run",
      async () => (await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } })).epochsDone >= 2,
      300_000,
    );
    first.child.kill("SIGKILL");
    await first.exited;
    const second = stack.spawn(workerEnv(prefix));
    await waitFor("the run to finish", () => sweepEnded(stack.prisma, sweepId), 300_000, 1000);
    const done = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(done.status, done.error ?? "").toBe("succeeded");
    const logs = await new Queue(RUNS_QUEUE, { connection: stack.redis, prefix }).getJobLogs(run.jobId);
    const resumed = logs.logs.find((l) => l.startsWith("resumed after epoch"));
    expect(resumed, logs.logs.join("\n")).toBeDefined();
    expect(Number(resumed!.match(/epoch (\d+)/)![1])).toBeGreaterThanOrEqual(2);
    const f1 = await stack.prisma.epochMetric.findMany({
      where: { runId: run.id, split: "val", name: "f1" },
      orderBy: { epoch: "asc" },
    });
    expect(f1.map((m) => m.epoch)).toEqual(Array.from({ length: done.epochsDone }, (_, i) => i + 1));
    expect(await duplicateMetricCount()).toBe(0);
    // One test evaluation, with its explanation quality (2 probe images per class, set above).
    await expectExplanationQuality(run.id, 6);
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
  }, 600_000);

  it("SIGTERM during a run: the worker exits 0 within its bound and another worker finishes the run", async () => {
    const prefix = testQueuePrefix();
    const loaded = demoSweep(
      {
        "train.epochs": 5,
        "data.cacheFeatures": false,
        "data.augment": true,
        "train.earlyStopping.patience": 10,
      },
      { model: ["mobilenet_v2"], stage: ["fe"] },
    );
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    const run = await stack.prisma.run.findFirstOrThrow({ where: { sweepId } });
    const first = stack.spawn(workerEnv(prefix, { XNN_SHUTDOWN_TIMEOUT_MS: "20000" }));
    await waitFor(
      "epoch 1 of the run",
      async () => (await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } })).epochsDone >= 1,
      300_000,
    );
    const t0 = Date.now();
    first.child.kill("SIGTERM");
    const exit = await first.exited;
    expect(exit.code, first.output().slice(-2000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const second = stack.spawn(workerEnv(prefix));
    await waitFor("the run to finish", () => sweepEnded(stack.prisma, sweepId), 300_000, 1000);
    const done = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(done.status, done.error ?? "").toBe("succeeded");
    expect(done.workerId).not.toBeNull();
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
  }, 600_000);

  it("a job whose payload lacks a field fails at once, unretried, naming the field in the run's error", async () => {
    const prefix = testQueuePrefix();
    const loaded = demoSweep({}, { model: ["mobilenet_v2"], stage: ["fe"] });
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    const run = await stack.prisma.run.findFirstOrThrow({ where: { sweepId } });
    const queue = new Queue(RUNS_QUEUE, { connection: stack.redis, prefix });
    await queue.drain();
    const { configHash: _dropped, ...data } = {
      v: 1,
      runId: run.id,
      sweepId,
      runKey: run.key,
      configHash: run.configHash,
      config: run.config,
      feRunId: null,
    };
    const job = await queue.add(RUN_JOB_NAME, data, { attempts: 3, jobId: "bad-payload" });
    const worker = stack.spawn(workerEnv(prefix));
    const failed = await waitFor(
      "the job to fail",
      async () => ((await job.isFailed()) ? await queue.getJob(job.id!) : undefined),
      60_000,
    );
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.failedReason).toContain('missing field "configHash"');
    const row = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(row.status).toBe("failed");
    expect(row.error).toContain("configHash");
    await queue.close();
    worker.child.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
  });
});
