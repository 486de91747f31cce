import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrisma, createSql, type PrismaClient, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { createRedis, loadSweepFile, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach } from "vitest";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
/** The study's sweep (conf/xray.yaml): 12 runs, 6 FT parents waiting on 6 FE children. */
export const xray = () => loadSweepFile(path.join(repoRoot, "conf/xray.yaml"));

/** What submitSweep and reconcileRuns work on; pass it to them as their dependencies. */
export interface QueueStack {
  databaseUrl: string;
  prisma: PrismaClient;
  sql: Sql;
  redis: Redis;
  /** A fresh queue prefix, queue and flow producer for each test. */
  prefix: string;
  queue: Queue;
  flows: FlowProducer;
}

/**
 * Real Postgres, Redis and BullMQ for this file's tests: a fresh database for the file; before each
 * test an empty sweep table (and worker table with `clearWorkers`) and a queue of its own,
 * obliterated after it.
 */
export function useQueueStack(opts: { clearWorkers?: boolean } = {}): QueueStack {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const s = {} as QueueStack;
  beforeAll(async () => {
    db = await createTestDatabase(testDatabaseServerUrl());
    s.databaseUrl = db.url;
    s.prisma = createPrisma(db.url);
    s.sql = createSql(db.url, { max: 4 });
    s.redis = createRedis(testRedisUrl(), "worker");
  });
  beforeEach(async () => {
    s.prefix = testQueuePrefix();
    s.flows = new FlowProducer({ connection: s.redis, prefix: s.prefix });
    s.queue = new Queue(RUNS_QUEUE, { connection: s.redis, prefix: s.prefix });
    await s.prisma.sweep.deleteMany();
    if (opts.clearWorkers) await s.prisma.worker.deleteMany();
    return async () => {
      await s.queue.obliterate({ force: true });
      await s.queue.close();
      await s.flows.close();
    };
  });
  afterAll(async () => {
    await s.prisma?.$disconnect();
    await s.sql?.end({ timeout: 1 });
    s.redis?.disconnect();
    await db?.drop();
  });
  return s;
}
