import { spawnSync } from "node:child_process";
import { testRedisUrl } from "@xnn/db/testing";
import { RUN_JOB_NAME, RUNS_QUEUE } from "@xnn/shared";
import { UnrecoverableError, Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { reconcileRuns } from "./reconcileRuns";
import { submitSweep } from "./submitSweep";
import { repoRoot, useQueueStack, xray } from "./testing/queueStack";

// Real Postgres, real Redis, real BullMQ; no worker: the tests put the two sides into the
// disagreements a crash, a Redis restart or a queue failure leave behind.
const STALE_MS = 20_000;
const stack = useQueueStack({ clearWorkers: true });

const reconcile = (dryRun = false) => reconcileRuns(stack, { staleAfterMs: STALE_MS, dryRun });

async function jobStates() {
  const runs = await stack.prisma.run.findMany({ orderBy: { key: "asc" } });
  return Promise.all(runs.map(async (r) => [r.key, await stack.queue.getJobState(r.jobId)] as const));
}

async function addWorker(id: string, heartbeatAgoMs: number) {
  await stack.prisma.worker.create({
    data: {
      id,
      host: "h",
      pid: 1,
      gpus: [],
      backend: "wasm",
      version: "t",
      lastHeartbeat: new Date(Date.now() - heartbeatAgoMs),
    },
  });
}

describe("reconcileRuns", () => {
  it("agreeing sides: nothing to do", async () => {
    await submitSweep(stack, xray());
    const report = await reconcile();
    expect(report).toMatchObject({ runsChecked: 12, workersLost: [], actions: [], errors: [] });
  });

  it("Redis lost every job: each run is enqueued again, FT after its FE as before; a dry run changes nothing", async () => {
    await submitSweep(stack, xray());
    const before = await jobStates();
    await stack.queue.obliterate({ force: true });
    expect((await jobStates()).every(([, s]) => s === "unknown")).toBe(true);

    const dry = await reconcile(true);
    expect(dry.actions).toHaveLength(6);
    expect(dry.actions.every((a) => a.action === "reenqueue" && a.withFeRunId)).toBe(true);
    expect((await jobStates()).every(([, s]) => s === "unknown")).toBe(true);

    const report = await reconcile();
    expect(report.errors).toEqual([]);
    expect(await jobStates()).toEqual(before);
    const ft = await stack.prisma.run.findFirstOrThrow({ where: { stage: "ft" } });
    const deps = await (await stack.queue.getJob(ft.jobId))!.getDependencies();
    expect(Object.keys(deps.unprocessed ?? {})).toHaveLength(1);
    expect((await stack.prisma.run.findMany()).every((r) => r.status === "queued")).toBe(true);
    // A second pass finds the two sides agreeing.
    expect((await reconcile()).actions).toEqual([]);
  });

  it("an FT run whose job vanished after its FE run succeeded is enqueued alone; after its FE failed, it fails", async () => {
    await submitSweep(stack, xray());
    const [ftA, ftB] = await stack.prisma.run.findMany({
      where: { stage: "ft" },
      orderBy: { key: "asc" },
      take: 2,
    });
    await stack.prisma.run.update({ where: { id: ftA!.feRunId! }, data: { status: "succeeded" } });
    await stack.prisma.run.update({
      where: { id: ftB!.feRunId! },
      data: { status: "failed", error: "out of memory" },
    });
    for (const ft of [ftA!, ftB!]) {
      await stack.queue.remove(ft.jobId, { removeChildren: true });
      const fe = await stack.prisma.run.findUniqueOrThrow({ where: { id: ft.feRunId! } });
      expect(await stack.queue.getJobState(fe.jobId)).toBe("unknown");
    }
    const report = await reconcile();
    expect(report.actions.map((a) => [a.action, "runId" in a ? a.runId : ""])).toEqual([
      ["reenqueue", ftA!.id],
      ["fail", ftB!.id],
    ]);
    // Re-enqueued with its priority (its own estimated work), like every run job.
    expect(await stack.queue.getJobState(ftA!.jobId)).toBe("prioritized");
    const failed = await stack.prisma.run.findUniqueOrThrow({ where: { id: ftB!.id } });
    expect(failed).toMatchObject({ status: "failed" });
    expect(failed.error).toContain(`FE run ${ftB!.feRunId} failed: out of memory`);
  });

  it("an FT run left queued after its FE run was pruned is pruned too, not failed", async () => {
    await submitSweep(stack, xray());
    const ft = await stack.prisma.run.findFirstOrThrow({ where: { stage: "ft" }, orderBy: { key: "asc" } });
    // The FE run's row says pruned (as endRunPruned leaves it), but its FT run was left queued and
    // its jobs are gone: a worker that died between the two writes, say.
    await stack.prisma.run.update({
      where: { id: ft.feRunId! },
      data: { status: "pruned", pruned: { reason: "asha at epoch 1: ...", numbers: null } },
    });
    await stack.queue.remove(ft.jobId, { removeChildren: true });
    const report = await reconcile();
    expect(report.actions.map((a) => [a.action, "runId" in a ? a.runId : ""])).toEqual([["prune", ft.id]]);
    const row = await stack.prisma.run.findUniqueOrThrow({ where: { id: ft.id } });
    expect(row.status).toBe("pruned");
    expect(row.pruned).toEqual({ reason: `its FE run ${ft.feRunId} was pruned`, numbers: null });
    expect((await reconcile()).actions).toEqual([]);
  });

  it("a job the queue failed by itself (stall limit) fails its run with the queue's reason, and the sweep ends", async () => {
    const loaded = xray();
    await submitSweep(stack, { ...loaded, runs: loaded.runs.filter((r) => r.stage === "fe").slice(0, 1) });
    const run = await stack.prisma.run.findFirstOrThrow();
    const worker = new Worker(RUNS_QUEUE, null, {
      connection: stack.redis,
      prefix: stack.prefix,
      autorun: false,
    });
    const job = await worker.getNextJob("tok");
    expect(job?.id).toBe(run.jobId);
    await job!.moveToFailed(new UnrecoverableError("job stalled more than allowable limit"), "tok", false);
    await worker.close();
    await stack.prisma.run.update({ where: { id: run.id }, data: { status: "running" } });

    const report = await reconcile();
    expect(report.actions).toMatchObject([{ action: "fail", runId: run.id }]);
    const row = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(row.status).toBe("failed");
    expect(row.error).toContain("job stalled more than allowable limit");
    expect((await stack.prisma.sweep.findFirstOrThrow()).status).toBe("failed");
    // Idempotent: the next pass has nothing left to write.
    expect((await reconcile()).actions).toEqual([]);
  });

  it("a running run whose worker stopped heartbeating goes back to queued with the death counted; a live worker's run is left alone", async () => {
    await submitSweep(stack, xray());
    const [a, b] = await stack.prisma.run.findMany({
      where: { stage: "fe" },
      orderBy: { key: "asc" },
      take: 2,
    });
    await addWorker("dead", STALE_MS + 60_000);
    await addWorker("alive", 0);
    await stack.prisma.run.update({
      where: { id: a!.id },
      data: { status: "running", workerId: "dead", leaseToken: "t1" },
    });
    await stack.prisma.run.update({
      where: { id: b!.id },
      data: { status: "running", workerId: "alive", leaseToken: "t2" },
    });
    // A run whose worker row is gone altogether (the foreign key set workerId null) is lost too.
    const c = (
      await stack.prisma.run.findMany({ where: { stage: "fe" }, orderBy: { key: "asc" }, take: 3 })
    )[2]!;
    await stack.prisma.run.update({
      where: { id: c.id },
      data: { status: "running", workerId: null, leaseToken: "t3" },
    });

    const report = await reconcile();
    expect(report.errors).toEqual([]);
    expect(report.actions.map((x) => ("runId" in x ? x.runId : "")).sort()).toEqual([a!.id, c.id].sort());
    expect(report.actions.every((x) => x.action === "requeue-lost-worker")).toBe(true);
    expect(await stack.prisma.run.findUniqueOrThrow({ where: { id: c.id } })).toMatchObject({
      status: "queued",
      crashes: 1,
    });
    const rowA = await stack.prisma.run.findUniqueOrThrow({ where: { id: a!.id } });
    expect(rowA).toMatchObject({ status: "queued", crashes: 1 });
    expect(rowA.error).toMatch(/worker dead lost \(last heartbeat \d+ s ago\)/);
    expect(await stack.prisma.run.findUniqueOrThrow({ where: { id: b!.id } })).toMatchObject({
      status: "running",
      crashes: 0,
    });
    // The dead worker is shown as lost, not active, from now on.
    expect(report.workersLost).toEqual(["dead"]);
    expect((await stack.prisma.worker.findUniqueOrThrow({ where: { id: "dead" } })).status).toBe("lost");
    expect((await stack.prisma.worker.findUniqueOrThrow({ where: { id: "alive" } })).status).toBe("active");
    expect((await reconcile()).actions).toEqual([]);
  });

  it("a job whose run has no row is removed; jobs of known runs stay", async () => {
    await submitSweep(stack, xray());
    await stack.queue.add(
      RUN_JOB_NAME,
      {
        v: 1,
        runId: "no-such-run",
        sweepId: "gone",
        runKey: "k",
        configHash: "0".repeat(64),
        config: {},
        feRunId: null,
      },
      { jobId: "orphan" },
    );
    const report = await reconcile();
    expect(report.actions).toEqual([
      { action: "remove-orphan-job", jobId: "orphan", reason: "no run no-such-run in the database" },
    ]);
    expect(await stack.queue.getJobState("orphan")).toBe("unknown");
    expect(await stack.queue.getJobCountByTypes("waiting", "prioritized", "waiting-children")).toBe(12);
  });

  it("pnpm xnn reconcile --dry-run prints what it would do and changes nothing", async () => {
    await submitSweep(stack, xray());
    await stack.queue.obliterate({ force: true });
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "apps/scheduler/src/cli/xnn.ts", "reconcile", "--dry-run"],
      {
        cwd: repoRoot,
        encoding: "utf8",
        env: {
          ...process.env,
          DATABASE_URL: stack.databaseUrl,
          REDIS_URL: testRedisUrl(),
          XNN_QUEUE_PREFIX: stack.prefix,
        },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("checked 12 open run(s)");
    expect(r.stdout).toContain("6 action(s) (dry run: nothing changed)");
    expect(r.stdout).toMatch(/would reenqueue .*its job and its FE run's job are missing/);
    expect(await stack.queue.count()).toBe(0);
  }, 60_000);
});
