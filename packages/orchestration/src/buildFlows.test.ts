import {
  type PipelineConfig,
  RUN_JOB_NAME,
  RUNS_QUEUE,
  type RunJobPayload,
  runCost,
  runPriority,
} from "@xnn/shared";
import { Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { buildFlows } from "./buildFlows";
import { submitSweep } from "./submitSweep";
import { useQueueStack, xray } from "./testing/queueStack";

const stack = useQueueStack();

describe("run priorities (longest chain first)", () => {
  it("estimates a run's work from its config: architecture, image size, epochs and stage", () => {
    const runs = xray().runs;
    const cost = (model: string, stage: string) =>
      runCost(
        runs.find((r) => r.model === model && r.stage === stage && r.classWeighting === "none")!.config,
      );
    expect(cost("resnet50", "fe")).toBeGreaterThan(cost("mobilenet_v2", "fe"));
    expect(cost("convnext_v2_tiny", "ft")).toBeGreaterThan(cost("resnet50", "ft"));
    // FT runs forward and backward every epoch; FE only forward.
    expect(cost("mobilenet_v2", "ft")).toBeGreaterThan(cost("mobilenet_v2", "fe"));
    const fe = runs.find((r) => r.stage === "fe")!.config;
    const cached: PipelineConfig = { ...fe, data: { ...fe.data, augment: false, cacheFeatures: true } };
    expect(runCost(cached)).toBeLessThan(runCost(fe));
    const half: PipelineConfig = { ...fe, data: { ...fe.data, imageSize: fe.data.imageSize / 2 } };
    expect(runCost(half)).toBeCloseTo(runCost(fe) / 4, 10);
  });

  it("maps more work to a smaller BullMQ priority (served first), within 1 .. 2^21 - 1", () => {
    const ps = [1e-9, 0.01, 1, 10, 1e4, 1e12].map(runPriority);
    for (let i = 1; i < ps.length; i++) expect(ps[i]).toBeLessThanOrEqual(ps[i - 1] as number);
    expect(runPriority(10)).toBeLessThan(runPriority(9));
    for (const p of ps) {
      expect(p).toBeGreaterThanOrEqual(1);
      expect(p).toBeLessThanOrEqual(2 ** 21 - 1);
    }
  });

  it("gives an FE job the priority of its chain (its own work plus its FT's)", () => {
    const loaded = xray();
    const flows = buildFlows("s1", loaded);
    for (const flow of flows) {
      const ft = flow.data as RunJobPayload;
      const fe = flow.children?.[0]?.data as RunJobPayload;
      const ftCost = runCost(ft.config);
      expect(flow.opts?.priority).toBe(runPriority(ftCost));
      expect(flow.children?.[0]?.opts?.priority).toBe(runPriority(runCost(fe.config) + ftCost));
    }
  });

  it("a worker takes the longest chains first, and every FT after its FE", async () => {
    await submitSweep(stack, xray());
    const order: { key: string; model: string; stage: string }[] = [];
    const worker = new Worker(
      RUNS_QUEUE,
      async (job) => {
        const d = job.data as RunJobPayload;
        expect(job.name).toBe(RUN_JOB_NAME);
        order.push({ key: d.runKey, model: d.config.model.arch, stage: d.config.stage.kind });
        return { ok: true };
      },
      { connection: stack.redis, prefix: stack.prefix, concurrency: 1 },
    );
    try {
      const deadline = Date.now() + 30_000;
      while (order.length < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await worker.close();
    }
    expect(order).toHaveLength(12);
    // conf/base at 224 px: ConvNeXt V2 tiny (4.5 GFLOP) and ResNet-50 (4.1) chains before MobileNetV2 (0.3).
    expect(order[0]).toMatchObject({ model: "convnext_v2_tiny", stage: "fe" });
    expect(order.slice(-4).map((o) => o.model)).toEqual(Array(4).fill("mobilenet_v2"));
    for (const [i, o] of order.entries()) {
      if (o.stage !== "ft") continue;
      const feKey = o.key.replace(/-ft$/, "-fe");
      expect(order.findIndex((p) => p.key === feKey)).toBeLessThan(i);
    }
  });
});
