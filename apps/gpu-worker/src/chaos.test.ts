import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { testQueuePrefix } from "@xnn/db/testing";
import { RUNS_QUEUE } from "@xnn/shared";
import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { lossReport, smallSweep, submit, sweepEnded } from "./testing/faultHarness";
import { QUICK_LOCK_MS, quickTakeover, startTestReconciler } from "./testing/testWorkers";
import { type WorkerProcess, waitFor } from "./testing/workerHarness";
import { useWorkerStack } from "./testing/workerStack";

// Real worker processes SIGKILLed again and again, some of them inside the final save's transaction
// and between the two renames of a checkpoint swap (XNN_FAULT_POINTS pauses them there and says so
// on stderr). Nothing is mocked: real Postgres, Redis, BullMQ and TensorFlow.js training.
const stack = useWorkerStack({ label: "chaos", images: 60, seed: 5 });

/** Short locks, so that a killed worker's job is taken over within seconds. */
const workerEnv = (prefix: string, overrides: Record<string, string> = {}) =>
  stack.workerEnv(prefix, { ...quickTakeover, XNN_SHUTDOWN_TIMEOUT_MS: "10000", ...overrides });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A seeded generator, so a failing kill schedule can be replayed (the seed is printed). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("chaos: workers killed at random moments", () => {
  it("8 runs on 2 workers survive 12 SIGKILLs (some inside the final save and a checkpoint swap): all succeed, every epoch once", async () => {
    const prefix = testQueuePrefix();
    const loaded = smallSweep(
      stack.dataDir,
      {
        "train.epochs": 5,
        "train.earlyStopping.patience": 10,
        "data.cacheFeatures": false,
        "data.augment": true,
      },
      { model: ["mobilenet_v2"], classWeighting: ["none", "balanced"], stage: ["fe", "ft"], seed: [1, 2] },
    );
    expect(loaded.runs).toHaveLength(8);
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    // The API's reconciler, as `pnpm api` runs it, with the test's short lock.
    const reconciler = startTestReconciler({
      sql: stack.sql,
      redis: stack.redis,
      prefix,
      staleAfterMs: QUICK_LOCK_MS + 4_000,
    });

    const seed = Number(process.env.XNN_CHAOS_SEED ?? Date.now() % 100_000);
    const random = rng(seed);
    const env = workerEnv(prefix, { XNN_FAULT_POINTS: "final-save:1500,checkpoint-swap:700" });
    const slots: WorkerProcess[] = [stack.spawn(env), stack.spawn(env)];
    const kills = { random: 0, "final-save": 0, "checkpoint-swap": 0 };
    const total = () => kills.random + kills["final-save"] + kills["checkpoint-swap"];
    // Where each worker's output has been read up to, so that one fault line triggers one kill.
    const marks = slots.map(() => 0);
    const points = ["final-save", "checkpoint-swap"] as const;
    const pausedAt = (i: number): (typeof points)[number] | null => {
      const out = slots[i]!.output();
      for (const point of points) {
        const at = out.indexOf(`xnn-fault-point ${point}`, marks[i]);
        if (at < 0) continue;
        marks[i] = at + 1;
        if (kills[point] < 2) return point;
      }
      marks[i] = Math.max(marks[i]!, out.length - 40);
      return null;
    };

    const kill = async (i: number, why: keyof typeof kills) => {
      const w = slots[i]!;
      w.child.kill("SIGKILL");
      await w.exited;
      kills[why]++;
      const next = stack.spawn(env);
      slots[i] = next;
      marks[i] = 0;
    };

    let nextRandomKill = Date.now() + 4_000 + random() * 3_000;
    const deadline = Date.now() + 600_000;
    while (!(await sweepEnded(stack.prisma, sweepId))) {
      if (Date.now() > deadline)
        throw new Error(`sweep not done after 600 s (seed ${seed}, kills ${JSON.stringify(kills)})`);
      if (total() < 12) {
        for (let i = 0; i < slots.length; i++) {
          // A worker paused inside a fault point dies there.
          const point = pausedAt(i);
          if (point) await kill(i, point);
        }
        if (Date.now() > nextRandomKill) {
          await kill(Math.floor(random() * slots.length), "random");
          nextRandomKill = Date.now() + 3_000 + random() * 4_000;
        }
      }
      await sleep(100);
    }
    await reconciler.close();

    const report = await lossReport(stack.prisma, sweepId);
    const diag = `seed ${seed}, kills ${JSON.stringify(kills)}\n${slots.map((w) => w.output().slice(-2500)).join("\n---\n")}`;
    expect(report, diag).toEqual({ notSucceeded: [], missingOrExtraEpochs: [], duplicates: 0, open: 0 });
    expect(total(), diag).toBeGreaterThanOrEqual(10);
    expect(kills["final-save"], diag).toBeGreaterThanOrEqual(1);
    expect(kills["checkpoint-swap"], diag).toBeGreaterThanOrEqual(1);
    // Each run's best checkpoint on disk is the one Postgres recorded, despite kills mid-swap.
    const checkpoints = await stack.prisma.checkpoint.findMany({ where: { run: { sweepId }, kind: "best" } });
    expect(checkpoints).toHaveLength(8);
    for (const c of checkpoints) {
      const dir = fileURLToPath(c.uri);
      const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
        sha256: string;
      };
      expect(manifest.sha256, c.uri).toBe(c.sha256);
    }
    const crashes = await stack.prisma.run.aggregate({ where: { sweepId }, _sum: { crashes: true } });
    console.info(
      `chaos: seed ${seed}, kills ${JSON.stringify(kills)}, crashes counted ${crashes._sum.crashes}`,
    );
    for (const w of slots) w.child.kill("SIGKILL");
  }, 660_000);

  it("a run that kills its worker every time fails once its crash budget is spent, naming the deaths and the epoch", async () => {
    const prefix = testQueuePrefix();
    const loaded = smallSweep(
      stack.dataDir,
      { "train.epochs": 20 },
      { model: ["mobilenet_v2"], stage: ["fe"] },
    );
    const { sweepId } = await submit(stack.prisma, stack.redis, prefix, loaded);
    const run = await stack.prisma.run.findFirstOrThrow({ where: { sweepId } });
    const env = workerEnv(prefix, { XNN_CRASH_BUDGET: "2" });
    let lastLease: string | null = null;
    let kills = 0;
    for (;;) {
      const w = stack.spawn(env);
      // Kill the worker as soon as it has claimed the run: the "out of memory at start" case.
      const row = await waitFor(
        "the run to be claimed again, or to end",
        async () => {
          const r = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
          if (r.status === "failed") return r;
          return r.status === "running" && r.leaseToken !== lastLease ? r : undefined;
        },
        120_000,
        50,
      );
      if (row.status === "failed") {
        w.child.kill("SIGTERM");
        await w.exited;
        break;
      }
      lastLease = row.leaseToken;
      w.child.kill("SIGKILL");
      await w.exited;
      kills++;
      expect(kills, "the run must fail by the third kill").toBeLessThanOrEqual(3);
    }
    const done = await stack.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(kills).toBe(3);
    expect(done.status).toBe("failed");
    expect(done.crashes).toBe(3);
    expect(done.error).toBe("worker died 3 times at epoch 1 (crash budget exceeded; see XNN_CRASH_BUDGET)");
    expect((await sweepEnded(stack.prisma, sweepId))?.status).toBe("failed");
    // The queue agrees: the job failed for good, not waiting to run again.
    const queue = new Queue(RUNS_QUEUE, { connection: stack.redis, prefix });
    const job = await waitFor(
      "the job to be failed",
      async () => {
        const j = await queue.getJob(run.jobId);
        return (await j?.isFailed()) ? j : undefined;
      },
      30_000,
    );
    expect(job!.failedReason).toContain("worker died 3 times");
    await queue.close();
    expect(existsSync(stack.artifactDir)).toBe(true);
  }, 300_000);
});
