import { readFileSync } from "node:fs";
import path from "node:path";
import { createArtifactStore } from "@xnn/artifacts";
import { testQueuePrefix } from "@xnn/db/testing";
import { STOP_AFTER_EPOCH_SEEN } from "@xnn/ml";
import { startSearchScheduler, submitSweep } from "@xnn/orchestration";
import { loadSweepText, RUNS_QUEUE, runIdFor } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { repoRoot, waitFor } from "./testing/workerHarness";
import { useWorkerStack } from "./testing/workerStack";

// Sweep search end to end: the API's search scheduler (pruner and bayes proposer, here in the test
// process), real worker processes training real (tiny) models, real Postgres and Redis.
const stack = useWorkerStack({ label: "search", images: 90, seed: 3 });

/**
 * A sweep of the demo config on the stack's synthetic data at 32 px, batch 16, no explanation
 * scoring: `name`, `method`, `runs`, `seed`, `axes` and the other top-level keys from `doc`,
 * `overrides` added to these.
 */
function demoSweep(doc: Record<string, unknown>, overrides: Record<string, unknown>) {
  const base = parse(readFileSync(path.join(repoRoot, "conf/demo.yaml"), "utf8")) as Record<string, unknown>;
  const sweep = {
    ...base,
    ...doc,
    overrides: {
      "data.dir": stack.dataDir,
      "data.imageSize": 32,
      "train.batchSize": 16,
      "eval.probePerClass": 0,
      ...overrides,
    },
  };
  return loadSweepText(stringify(sweep), { baseDir: path.join(repoRoot, "conf") });
}

/** A worker process on the stack, with a lock long enough for a training batch on a loaded machine. */
const startWorker = (prefix: string) =>
  stack.spawn(stack.workerEnv(prefix, { XNN_LOCK_DURATION_MS: "15000" }));

const EPOCHS = 40;

/** One point of a random space, FE then FT, with ASHA on val.loss from epoch 1. */
function searchSweep() {
  return demoSweep(
    {
      name: "prune-e2e",
      method: "random",
      runs: 1,
      seed: 5,
      axes: { model: ["mobilenet_v2"], stage: ["fe", "ft"], "model.dropout": { uniform: [0.1, 0.3] } },
      earlyTerminate: { method: "asha", metric: "val.loss", minEpochs: 1, reductionFactor: 3 },
    },
    {
      "data.cacheFeatures": false,
      "train.epochs": EPOCHS,
      "train.earlyStopping.patience": EPOCHS,
    },
  );
}

/**
 * A finished FE run of the same sweep whose val.loss of 0 was recorded an hour ago: at ASHA's
 * first rung every real run comes second of two, outside the top 1, whatever it learns.
 */
async function insertRival(sweepId: string) {
  const { sql } = stack;
  const id = runIdFor(sweepId, "rival");
  await sql`INSERT INTO "Run" (id, "sweepId", key, config, "configHash", model, "classWeighting", stage, "jobId", status, "epochsDone")
    VALUES (${id}, ${sweepId}, 'rival', ${JSON.stringify({ train: { epochs: EPOCHS } })}::text::jsonb, ${"0".repeat(64)},
      'mobilenet_v2', 'none', 'fe', ${`${sweepId}.rival`}, 'succeeded', 3)`;
  for (let epoch = 1; epoch <= 3; epoch++) {
    await sql`INSERT INTO "EpochMetric" ("runId", epoch, split, name, value, "createdAt")
      VALUES (${id}, ${epoch}, 'val', 'loss', 0, now() - interval '1 hour')`;
  }
}

describe("early termination with a real worker", () => {
  it("a pruned FE run stops at the epoch boundary of its rung (its worker asks the rule before the next epoch), its metrics and best checkpoint intact; its FT run is pruned unstarted", async () => {
    const { prisma, redis, sql } = stack;
    const prefix = testQueuePrefix();
    const loaded = searchSweep();
    const flows = new FlowProducer({ connection: redis, prefix });
    const { sweepId } = await submitSweep({ prisma, flows }, loaded, { fresh: true }).finally(() =>
      flows.close(),
    );
    await insertRival(sweepId);
    const fe = await prisma.run.findFirstOrThrow({ where: { sweepId, stage: "fe", key: { not: "rival" } } });
    const ft = await prisma.run.findFirstOrThrow({ where: { sweepId, stage: "ft" } });
    expect(ft.feRunId).toBe(fe.id);
    expect(fe.params).toEqual(loaded.runs[0]!.params);

    const searchFlows = new FlowProducer({ connection: redis, prefix });
    const pruner = startSearchScheduler({ sql, redis, flows: searchFlows }, { intervalMs: 200 });
    const worker = startWorker(prefix);
    try {
      await waitFor(
        "the FT run to end",
        async () => {
          const r = await prisma.run.findUniqueOrThrow({ where: { id: ft.id } });
          return ["queued", "running"].includes(r.status) ? undefined : r;
        },
        300_000,
        500,
      );
    } finally {
      await pruner.stop();
      await searchFlows.close();
    }

    const feDone = await prisma.run.findUniqueOrThrow({ where: { id: fe.id } });
    expect(feDone.status, `${feDone.error}\n${worker.output().slice(-3000)}`).toBe("pruned");
    expect(feDone.pruned).toMatchObject({
      reason: expect.stringMatching(
        /^asha at epoch 1: val\.loss [\d.]+ ranks 2 of 2; only the top 1 \(0 or better\) go on$/,
      ),
      numbers: { rule: "asha", metric: "val.loss", epoch: 1, threshold: 0, of: 2, rank: 2, keep: 1 },
    });
    // Exactly the rung's epochs: the worker held the thread at the end of epoch 1 until the rule's
    // verdict was in, so no step of epoch 2 ran (before, the prune arrived mid epoch 2, which was
    // trained to its end).
    expect(feDone.epochsDone).toBe(1);

    // The trainer logs where it first saw the prune: at the end of epoch 1, every step done.
    const seen = worker.lines().filter((l) => l.runId === fe.id && l.msg === STOP_AFTER_EPOCH_SEEN);
    expect(seen, worker.output().slice(-3000)).toHaveLength(1);
    const { epoch: inProgress, batch, steps } = seen[0] as { epoch: number; batch: number; steps: number };
    expect([inProgress, batch]).toEqual([1, steps]);
    expect(worker.lines().some((l) => l.runId === fe.id && l.msg === `epoch ${inProgress}/${EPOCHS}`)).toBe(
      true,
    );

    // Every epoch it recorded is whole (all ten metrics, validation's included), numbered
    // 1..epochsDone; nothing after it.
    const metrics = await prisma.epochMetric.findMany({ where: { runId: fe.id } });
    const epochs = [...new Set(metrics.map((m) => m.epoch))].sort((a, b) => a - b);
    expect(epochs).toEqual(Array.from({ length: feDone.epochsDone }, (_, i) => i + 1));
    for (const e of epochs) expect(metrics.filter((m) => m.epoch === e)).toHaveLength(10);
    expect(metrics.filter((m) => m.epoch === inProgress && m.split === "val")).toHaveLength(5);

    // The best checkpoint is kept: its row names the best val.f1 epoch of all the recorded ones (the
    // last included), and its bytes verify.
    const f1 = metrics.filter((m) => m.split === "val" && m.name === "f1");
    const bestF1 = Math.max(...f1.map((m) => m.value));
    const bestEpoch = Math.min(...f1.filter((m) => m.value === bestF1).map((m) => m.epoch));
    expect(feDone.bestEpoch).toBe(bestEpoch);
    expect(feDone.bestValF1).toBe(bestF1);
    const checkpoint = await prisma.checkpoint.findFirstOrThrow({ where: { runId: fe.id, kind: "best" } });
    expect(checkpoint.epoch).toBe(bestEpoch);
    const store = createArtifactStore(undefined, {
      artifactDir: stack.artifactDir,
      cacheDir: path.join(stack.artifactDir, ".cache"),
      cacheBytes: 1e9,
    });
    const dir = await store.getDir(checkpoint.uri, { sha256: checkpoint.sha256 });
    expect(readFileSync(path.join(dir, "model.json"), "utf8")).toContain("modelTopology");

    // The FT run that would have started from it is pruned with it and never trained.
    const ftDone = await prisma.run.findUniqueOrThrow({ where: { id: ft.id } });
    expect(ftDone.status).toBe("pruned");
    expect(ftDone.pruned).toMatchObject({ feRunId: fe.id, numbers: null });
    expect((ftDone.pruned as { reason: string }).reason).toMatch(
      new RegExp(`^its FE run ${fe.id.replace(/\./g, "\\.")} was pruned: asha at epoch 1`),
    );
    expect(ftDone.startedAt).toBeNull();
    expect(await prisma.epochMetric.count({ where: { runId: ft.id } })).toBe(0);

    // The queue agrees: the FE job failed unretried, naming the rule; nothing is left to run.
    const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
    const feJob = await queue.getJob(fe.jobId);
    expect(feJob?.failedReason).toMatch(/^run was pruned: asha at epoch 1/);
    expect(feJob?.attemptsMade).toBe(1);
    await waitFor(
      "the FT job to leave the queue",
      async () => {
        const c = await queue.getJobCounts("wait", "prioritized", "active", "waiting-children");
        return c.wait === 0 && c.prioritized === 0;
      },
      60_000,
    );
    await queue.close();
    // The worker's own rung check decided (the search scheduler, polling, may rarely get there first).
    expect(worker.output()).toMatch(
      /pruned at epoch 1 by the sweep's early-termination rule; stopping before the next epoch|pruned by the sweep's early-termination rule; stopping after the epoch in progress/,
    );

    // Pruned runs are the search working: the sweep succeeded.
    await waitFor(
      "the sweep to end",
      async () => {
        const s = await prisma.sweep.findUniqueOrThrow({ where: { id: sweepId } });
        return s.status === "succeeded" ? s : undefined;
      },
      30_000,
    );
    worker.child.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
  }, 360_000);
});

describe("bayes search with a real worker", () => {
  it("starts with 3 random points, proposes each next one as a point ends, records its values, and ends after runs points", async () => {
    const { prisma, redis, sql } = stack;
    const prefix = testQueuePrefix();
    const loaded = demoSweep(
      {
        name: "bayes-e2e",
        method: "bayes",
        runs: 5,
        seed: 9,
        axes: {
          model: ["mobilenet_v2"],
          stage: ["fe"],
          "train.learningRate": { loguniform: [0.0003, 0.03] },
          "model.dropout": { choice: [0.1, 0.3] },
        },
      },
      { "train.epochs": 1 },
    );
    expect(loaded.runs.map((r) => r.trial)).toEqual([0, 1, 2]);
    const flows = new FlowProducer({ connection: redis, prefix });
    const { sweepId } = await submitSweep({ prisma, flows }, loaded, { fresh: true });
    const scheduler = startSearchScheduler({ sql, redis, flows }, { intervalMs: 200 });
    const worker = startWorker(prefix);
    let sweep: Awaited<ReturnType<typeof prisma.sweep.findUniqueOrThrow>>;
    try {
      sweep = await waitFor(
        "the sweep to end",
        async () => {
          const s = await prisma.sweep.findUniqueOrThrow({ where: { id: sweepId } });
          return ["succeeded", "failed", "cancelled"].includes(s.status) ? s : undefined;
        },
        300_000,
        500,
      );
    } finally {
      await scheduler.stop();
      await flows.close();
    }
    expect(sweep.status, worker.output().slice(-3000)).toBe("succeeded");
    const runs = await prisma.run.findMany({ where: { sweepId }, orderBy: { trial: "asc" } });
    expect(runs.map((r) => [r.trial, r.status])).toEqual([0, 1, 2, 3, 4].map((t) => [t, "succeeded"]));
    expect(runs.map((r) => r.key)).toEqual([0, 1, 2, 3, 4].map((t) => `mobilenet_v2-none-fe-t${t}`));
    const seen = new Set<string>();
    for (const r of runs) {
      const params = r.params as { "train.learningRate": number; "model.dropout": number };
      expect(params["train.learningRate"]).toBeGreaterThanOrEqual(0.0003);
      expect(params["train.learningRate"]).toBeLessThanOrEqual(0.03);
      expect([0.1, 0.3]).toContain(params["model.dropout"]);
      // What was proposed is what ran.
      const config = r.config as { train: { learningRate: number }; model: { dropout: number } };
      expect(config.train.learningRate).toBe(params["train.learningRate"]);
      expect(config.model.dropout).toBe(params["model.dropout"]);
      seen.add(JSON.stringify(params));
      expect(r.bestValF1).not.toBeNull();
    }
    expect(seen.size).toBe(5);
    // Proposals came after points ended: each of trials 3 and 4 was queued after some run finished.
    const firstEnd = Math.min(...runs.slice(0, 3).map((r) => r.finishedAt!.getTime()));
    for (const r of runs.slice(3)) expect(r.queuedAt.getTime()).toBeGreaterThanOrEqual(firstEnd);
    worker.child.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
  }, 360_000);
});
