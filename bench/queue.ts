import path from "node:path";
import { parseArgs } from "node:util";
import { createPrisma } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { submitSweep } from "@xnn/orchestration";
import { createRedis, loadSweepText } from "@xnn/shared";
import { FlowProducer, Queue, Worker } from "bullmq";
import { spawnWorker, waitFor } from "../apps/gpu-worker/src/testing/workerHarness";

// `pnpm bench queue [--jobs 10000] [--processes 2] [--concurrency 8]`: N real worker processes with
// a no-op trainer drain a sweep of run jobs, making every Postgres write a real run makes (status
// changes, one epoch of metrics, evaluation, curves, confusion matrix, predictions, checkpoint);
// beside raw BullMQ no-op jobs drained by the same number of processes and concurrency.
const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "10000" },
    processes: { type: "string", default: "2" },
    concurrency: { type: "string", default: "8" },
  },
});
const jobs = Number(values.jobs);
const processes = Number(values.processes);
const concurrency = Number(values.concurrency);
const root = path.resolve(import.meta.dirname, "..");

const perModel = Math.ceil(jobs / 6);
const text = `name: bench-queue
base: demo-base
axes:
  model: [mobilenet_v2, resnet18, convnext_v2_atto]
  classWeighting: [none, balanced]
  stage: [fe]
  seed: [${Array.from({ length: perModel }, (_, i) => i).join(", ")}]
`;

const db = await createTestDatabase(testDatabaseServerUrl());
const prisma = createPrisma(db.url);
const redis = createRedis(testRedisUrl(), "worker");
const prefix = testQueuePrefix();
const flows = new FlowProducer({ connection: redis, prefix });
try {
  const loaded = loadSweepText(text, { baseDir: path.join(root, "conf"), maxRuns: 100_000 });
  const { sweepId, runs } = await submitSweep({ prisma, flows }, loaded);
  console.log(
    `queued ${runs} runs; draining with ${processes} worker processes x concurrency ${concurrency} (no-op trainer)`,
  );

  const t0 = performance.now();
  const workers = Array.from({ length: processes }, () =>
    spawnWorker(
      {
        DATABASE_URL: db.url,
        REDIS_URL: testRedisUrl(),
        XNN_QUEUE_PREFIX: prefix,
        XNN_WORKER_CONCURRENCY: String(concurrency),
        ARTIFACT_DIR: path.join(root, ".xnn", "bench-artifacts"),
        XNN_LOG_LEVEL: "warn",
      },
      { trainer: "noop" },
    ),
  );
  let last = 0;
  await waitFor(
    "every run to succeed",
    async () => {
      const done = await prisma.run.count({ where: { sweepId, status: { in: ["succeeded", "failed"] } } });
      if (done - last >= 1000) {
        last = done;
        process.stdout.write(
          `  ${done}/${runs} (${((done / (performance.now() - t0)) * 1000).toFixed(0)} runs/s)\n`,
        );
      }
      return done === runs;
    },
    3_600_000,
    500,
  );
  // From the first run taken to the last one finished: process start-up is not queue throughput.
  const span = await prisma.run.aggregate({
    where: { sweepId },
    _min: { startedAt: true },
    _max: { finishedAt: true },
  });
  const runSeconds = (span._max.finishedAt!.getTime() - span._min.startedAt!.getTime()) / 1000;
  const failed = await prisma.run.count({ where: { sweepId, status: "failed" } });
  if (failed > 0) {
    // A throughput of failing runs measures the wrong thing: say why they failed.
    const reasons = await prisma.run.groupBy({
      by: ["error"],
      where: { sweepId, status: "failed" },
      _count: true,
      orderBy: { _count: { error: "desc" } },
      take: 3,
    });
    for (const r of reasons)
      console.log(`  ${r._count} runs failed: ${(r.error ?? "(no error recorded)").slice(0, 300)}`);
  }
  for (const w of workers) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => w.exited));

  // Baseline: the same number of jobs, processed by no-op BullMQ workers (in this process, same total concurrency).
  const rawName = "xnn-bench-raw";
  const rawQueue = new Queue(rawName, { connection: redis, prefix });
  await rawQueue.addBulk(Array.from({ length: runs }, (_, i) => ({ name: "noop", data: { i } })));
  const t1 = performance.now();
  let processed = 0;
  let finish: () => void = () => {};
  const rawDone = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const rawWorkers = Array.from(
    { length: processes },
    () =>
      new Worker(
        rawName,
        async () => {
          processed++;
          if (processed === runs) finish();
        },
        { connection: createRedis(testRedisUrl(), "worker"), prefix, concurrency },
      ),
  );
  await rawDone;
  await Promise.all(rawWorkers.map((w) => w.close()));
  const rawSeconds = (performance.now() - t1) / 1000;
  await rawQueue.obliterate({ force: true });
  await rawQueue.close();

  const runsPerSec = runs / runSeconds;
  const rawPerSec = runs / rawSeconds;
  console.log(
    `xnn runs (no-op trainer, all DB writes): ${runsPerSec.toFixed(0)} runs/s (${runSeconds.toFixed(1)} s, ${failed} failed)`,
  );
  console.log(
    `raw BullMQ no-op jobs:                 ${rawPerSec.toFixed(0)} jobs/s (${rawSeconds.toFixed(1)} s)`,
  );
  console.log(`ratio xnn / raw:                       ${(runsPerSec / rawPerSec).toFixed(3)}`);
} finally {
  await flows.close();
  await new Queue("xnn-runs", { connection: redis, prefix }).obliterate({ force: true }).catch(() => {});
  redis.disconnect();
  await prisma.$disconnect();
  await db.drop();
}
process.exit(0);
