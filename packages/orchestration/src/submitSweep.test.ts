import { createRedis, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer } from "bullmq";
import { describe, expect, it } from "vitest";
import { EnqueueError, submitSweep } from "./submitSweep";
import { useQueueStack, xray } from "./testing/queueStack";

const stack = useQueueStack();

describe("submitSweep", () => {
  it("creates 1 sweep, 12 runs and 12 jobs (6 FT parents waiting on 6 FE children) for the study", async () => {
    const result = await submitSweep(stack, xray());
    expect(result).toMatchObject({ created: true, runs: 12, jobs: 12, status: "queued" });
    expect(await stack.prisma.sweep.count()).toBe(1);
    expect(await stack.prisma.run.count()).toBe(12);
    const counts = await stack.queue.getJobCounts(
      "waiting-children",
      "wait",
      "prioritized",
      "active",
      "delayed",
    );
    // Every run job has a priority (longest chain first), so the 6 ready FE jobs are "prioritized".
    expect(counts).toEqual({ "waiting-children": 6, wait: 0, prioritized: 6, active: 0, delayed: 0 });

    const ftRuns = await stack.prisma.run.findMany({ where: { stage: "ft" }, include: { feRun: true } });
    for (const ft of ftRuns) {
      expect(ft.feRun?.stage).toBe("fe");
      expect(ft.feRun?.model).toBe(ft.model);
      expect(ft.feRun?.classWeighting).toBe(ft.classWeighting);
      const job = await stack.queue.getJob(ft.jobId);
      const deps = await job!.getDependencies();
      expect(deps.unprocessed).toEqual([`${stack.prefix}:${RUNS_QUEUE}:${ft.feRun!.jobId}`]);
      expect(job!.data.feRunId).toBe(ft.feRunId);
    }
  });

  it("a second identical submission creates nothing new; --new makes a fresh sweep", async () => {
    const first = await submitSweep(stack, xray());
    const second = await submitSweep(stack, xray());
    expect(second).toMatchObject({ sweepId: first.sweepId, created: false, jobs: 0 });
    expect(await stack.prisma.sweep.count()).toBe(1);
    expect(await stack.prisma.run.count()).toBe(12);
    expect(await stack.queue.count()).toBe(12);

    const fresh = await submitSweep(stack, xray(), { fresh: true });
    expect(fresh.sweepId).not.toBe(first.sweepId);
    expect(await stack.prisma.sweep.count()).toBe(2);
    expect(await stack.queue.count()).toBe(24);
  });

  it("concurrent identical submissions create the sweep once", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => submitSweep(stack, xray())));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await stack.prisma.run.count()).toBe(12);
    expect(await stack.queue.count()).toBe(12);
  });

  it("when Redis refuses the jobs, the sweep is marked failed, its runs cancelled, and no job exists", async () => {
    const dead = createRedis("redis://127.0.0.1:1", "producer");
    const deadFlows = new FlowProducer({ connection: dead, prefix: stack.prefix });
    try {
      await expect(submitSweep({ prisma: stack.prisma, flows: deadFlows }, xray())).rejects.toBeInstanceOf(
        EnqueueError,
      );
    } finally {
      await deadFlows.close().catch(() => {});
      dead.disconnect();
    }
    const sweep = await stack.prisma.sweep.findFirstOrThrow();
    expect(sweep.status).toBe("failed");
    expect(sweep.error).toMatch(/^enqueue failed/);
    expect(await stack.prisma.run.count({ where: { status: { not: "cancelled" } } })).toBe(0);
    expect(await stack.queue.count()).toBe(0);

    // Once Redis is back, resubmitting the same file finishes the job instead of refusing it.
    const retried = await submitSweep(stack, xray());
    expect(retried).toMatchObject({ sweepId: sweep.id, created: true, status: "queued" });
    expect(await stack.prisma.run.count({ where: { status: "queued" } })).toBe(12);
    expect(await stack.queue.count()).toBe(12);
  });
});
