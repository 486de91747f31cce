import path from "node:path";
import { testQueuePrefix } from "@xnn/db/testing";
import { loadSweepText } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { submit, sweepEnded } from "./testing/faultHarness";
import { repoRoot, spawnWorker, waitForWorkers } from "./testing/workerHarness";
import { useWorkerStack } from "./testing/workerStack";

// `pnpm bench queue`'s worker: real processes, Postgres, Redis and BullMQ, with the no-op trainer,
// which reports its one epoch from inside train() rather than later from a thread. The job code
// once read its prune watch before creating it in that case, and every run of the bench failed
// ("Cannot access 'pruneWatch' before initialization") while it printed a throughput.
const stack = useWorkerStack({ label: "noop", images: 30, seed: 4 });

describe("a worker on the no-op trainer (pnpm bench queue)", () => {
  it("finishes every run of a sweep with its epoch and test results in Postgres", async () => {
    const prefix = testQueuePrefix();
    const loaded = loadSweepText(
      `name: noop-trainer\nbase: demo-base\noverrides: { data.dir: ${stack.dataDir} }\naxes:\n  model: [mobilenet_v2, resnet18]\n  classWeighting: [none, balanced]\n  stage: [fe]\n`,
      { baseDir: path.join(repoRoot, "conf") },
    );
    const { sweepId, runs } = await submit(stack.prisma, stack.redis, prefix, loaded);
    expect(runs).toBe(4);
    const worker = spawnWorker(stack.workerEnv(prefix), { trainer: "noop" });
    try {
      const sweep = await waitForWorkers(
        worker,
        "the sweep to end",
        () => sweepEnded(stack.prisma, sweepId),
        120_000,
      );
      const rows = await stack.prisma.run.findMany({ where: { sweepId }, orderBy: { key: "asc" } });
      expect(
        rows.map((r) => [r.key, r.status, r.error]),
        worker.output().slice(-2000),
      ).toEqual(rows.map((r) => [r.key, "succeeded", null]));
      expect(sweep.status).toBe("succeeded");
      const epochs = await stack.prisma.epochMetric.findMany({
        where: { runId: { in: rows.map((r) => r.id) }, split: "val", name: "f1" },
      });
      expect(epochs.map((e) => [e.runId, e.epoch, e.value]).sort()).toEqual(
        rows.map((r) => [r.id, 1, 0.5]).sort(),
      );
      expect(rows.map((r) => r.testF1)).toEqual(rows.map(() => 0.5));
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  }, 180_000);
});
