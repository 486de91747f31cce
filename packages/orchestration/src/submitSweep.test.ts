import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrisma, type PrismaClient } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { createRedis, loadSweepFile, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EnqueueError, submitSweep } from "./submitSweep";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const xray = () => loadSweepFile(path.join(root, "conf/xray.yaml"));

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let redis: Redis;
let prefix: string;
let flows: FlowProducer;
let queue: Queue;

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url);
  redis = createRedis(testRedisUrl(), "worker");
});

beforeEach(async () => {
  prefix = testQueuePrefix();
  flows = new FlowProducer({ connection: redis, prefix });
  queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
  await prisma.sweep.deleteMany();
  return async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await flows.close();
  };
});

afterAll(async () => {
  await prisma?.$disconnect();
  redis?.disconnect();
  await db?.drop();
});

describe("submitSweep", () => {
  it("creates 1 sweep, 12 runs and 12 jobs (6 FT parents waiting on 6 FE children) for the study", async () => {
    const result = await submitSweep({ prisma, flows }, xray());
    expect(result).toMatchObject({ created: true, runs: 12, jobs: 12, status: "queued" });
    expect(await prisma.sweep.count()).toBe(1);
    expect(await prisma.run.count()).toBe(12);
    const counts = await queue.getJobCounts("waiting-children", "wait", "active", "delayed");
    expect(counts).toEqual({ "waiting-children": 6, wait: 6, active: 0, delayed: 0 });

    const ftRuns = await prisma.run.findMany({ where: { stage: "ft" }, include: { feRun: true } });
    for (const ft of ftRuns) {
      expect(ft.feRun?.stage).toBe("fe");
      expect(ft.feRun?.model).toBe(ft.model);
      expect(ft.feRun?.classWeighting).toBe(ft.classWeighting);
      const job = await queue.getJob(ft.jobId);
      const deps = await job!.getDependencies();
      expect(deps.unprocessed).toEqual([`${prefix}:${RUNS_QUEUE}:${ft.feRun!.jobId}`]);
      expect(job!.data.feRunId).toBe(ft.feRunId);
    }
  });

  it("a second identical submission creates nothing new; --new makes a fresh sweep", async () => {
    const first = await submitSweep({ prisma, flows }, xray());
    const second = await submitSweep({ prisma, flows }, xray());
    expect(second).toMatchObject({ sweepId: first.sweepId, created: false, jobs: 0 });
    expect(await prisma.sweep.count()).toBe(1);
    expect(await prisma.run.count()).toBe(12);
    expect(await queue.count()).toBe(12);

    const fresh = await submitSweep({ prisma, flows }, xray(), { fresh: true });
    expect(fresh.sweepId).not.toBe(first.sweepId);
    expect(await prisma.sweep.count()).toBe(2);
    expect(await queue.count()).toBe(24);
  });

  it("concurrent identical submissions create the sweep once", async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => submitSweep({ prisma, flows }, xray())),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await prisma.run.count()).toBe(12);
    expect(await queue.count()).toBe(12);
  });

  it("when Redis refuses the jobs, the sweep is marked failed, its runs cancelled, and no job exists", async () => {
    const dead = createRedis("redis://127.0.0.1:1", "producer");
    const deadFlows = new FlowProducer({ connection: dead, prefix });
    try {
      await expect(submitSweep({ prisma, flows: deadFlows }, xray())).rejects.toBeInstanceOf(EnqueueError);
    } finally {
      await deadFlows.close().catch(() => {});
      dead.disconnect();
    }
    const sweep = await prisma.sweep.findFirstOrThrow();
    expect(sweep.status).toBe("failed");
    expect(sweep.error).toMatch(/^enqueue failed/);
    expect(await prisma.run.count({ where: { status: { not: "cancelled" } } })).toBe(0);
    expect(await queue.count()).toBe(0);

    // Once Redis is back, resubmitting the same file finishes the job instead of refusing it.
    const retried = await submitSweep({ prisma, flows }, xray());
    expect(retried).toMatchObject({ sweepId: sweep.id, created: true, status: "queued" });
    expect(await prisma.run.count({ where: { status: "queued" } })).toBe(12);
    expect(await queue.count()).toBe(12);
  });
});
