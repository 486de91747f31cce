import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrisma } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { submitSweep } from "@xnn/orchestration";
import { createRedis, loadSweepText, RUN_JOB_NAME, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";

// `pnpm bench sweep`: expand + persist + enqueue a ~10,000-run sweep, beside raw BullMQ addBulk of
// the same number of jobs (same payloads) on the same Redis.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const seeds = Array.from({ length: 834 }, (_, i) => i);
const text = `name: bench-10k
base: demo-base
axes:
  model: [mobilenet_v2, resnet18, convnext_v2_atto]
  classWeighting: [none, balanced]
  stage: [fe, ft]
  seed: [${seeds.join(", ")}]
`;

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const db = await createTestDatabase(testDatabaseServerUrl());
const prisma = createPrisma(db.url);
const redis = createRedis(testRedisUrl(), "worker");
const prefix = testQueuePrefix();
const flows = new FlowProducer({ connection: redis, prefix });
const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
const rawQueue = new Queue(`${RUNS_QUEUE}-raw`, { connection: redis, prefix });
try {
  let t0 = process.hrtime.bigint();
  const loaded = loadSweepText(text, { baseDir: path.join(root, "conf"), maxRuns: 20_000 });
  const expandMs = ms(t0);
  const n = loaded.runs.length;

  t0 = process.hrtime.bigint();
  const result = await submitSweep({ prisma, flows }, loaded);
  const submitMs = ms(t0);
  const jobs = await queue.count();

  const payloads = loaded.runs.map((r, i) => ({ name: RUN_JOB_NAME, data: { i, config: r.config } }));
  t0 = process.hrtime.bigint();
  await rawQueue.addBulk(payloads);
  const rawMs = ms(t0);

  const total = expandMs + submitMs;
  console.log(`runs: ${n} (sweep ${result.sweepId}, ${jobs} jobs in Redis)`);
  console.log(`expand + validate:          ${expandMs.toFixed(0).padStart(7)} ms`);
  console.log(`persist + enqueue (flows):  ${submitMs.toFixed(0).padStart(7)} ms`);
  console.log(
    `total:                      ${total.toFixed(0).padStart(7)} ms  (${((n / total) * 1000).toFixed(0)} runs/s)`,
  );
  console.log(
    `raw BullMQ addBulk x${n}:  ${rawMs.toFixed(0).padStart(7)} ms  (${((n / rawMs) * 1000).toFixed(0)} jobs/s)`,
  );
  console.log(`ratio total / raw addBulk:  ${(total / rawMs).toFixed(2)}x`);
} finally {
  await queue.obliterate({ force: true }).catch(() => {});
  await rawQueue.obliterate({ force: true }).catch(() => {});
  await Promise.all([queue.close(), rawQueue.close(), flows.close()]);
  redis.disconnect();
  await prisma.$disconnect();
  await db.drop();
}
