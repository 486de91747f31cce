import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPrisma, createSql, type PrismaClient, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testRedisUrl } from "@xnn/db/testing";
import { generateSynthetic } from "@xnn/ml";
import { type Reconciler, startReconciler } from "@xnn/orchestration";
import { createLogger, createRedis, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { spawnWorker, type WorkerProcess } from "./workerHarness";

/** Lock settings under which a killed worker's job is taken over within seconds. */
export const QUICK_LOCK_MS = 4_000;
export const quickTakeover = { XNN_LOCK_DURATION_MS: String(QUICK_LOCK_MS), XNN_STALLED_INTERVAL_MS: "1000" };

/** A test worker's environment: wasm, a heartbeat every 500 ms, this database, queue and store. */
export function testWorkerEnv(
  to: { databaseUrl: string; redisUrl?: string; prefix: string; artifactDir: string },
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: to.databaseUrl,
    REDIS_URL: to.redisUrl ?? testRedisUrl(),
    XNN_QUEUE_PREFIX: to.prefix,
    ARTIFACT_DIR: to.artifactDir,
    XNN_BACKEND: "wasm",
    XNN_HEARTBEAT_MS: "500",
    ...overrides,
  };
}

/** The API's reconciler, as `pnpm api` runs it, with a pass every 2 s; close() also closes its queues. */
export function startTestReconciler(
  deps: { sql: Sql; redis: Redis; prefix: string; staleAfterMs: number },
  logLevel: "warn" | "error" = "warn",
): Reconciler & { close(): Promise<void> } {
  const queue = new Queue(RUNS_QUEUE, { connection: deps.redis, prefix: deps.prefix });
  const flows = new FlowProducer({ connection: deps.redis, prefix: deps.prefix });
  queue.on("error", () => {});
  flows.on("error", () => {});
  const r = startReconciler(
    { sql: deps.sql, queue, flows, redis: deps.redis, logger: createLogger("reconciler", logLevel) },
    { intervalMs: 2_000, staleAfterMs: deps.staleAfterMs, lockKey: `xnn:reconcile:${deps.prefix}` },
  );
  return {
    ...r,
    async close() {
      await r.stop();
      await Promise.allSettled([queue.close(), flows.close()]);
    },
  };
}

export interface WorkerStack {
  databaseUrl: string;
  prisma: PrismaClient;
  sql: Sql;
  redis: Redis;
  /** A synthetic 3-class data set at 32 px. */
  dataDir: string;
  artifactDir: string;
  /** Every worker started through spawn(), oldest first; any still running is SIGKILLed at the end. */
  workers: WorkerProcess[];
  spawn(env: Record<string, string>): WorkerProcess;
  /** testWorkerEnv for this stack's database, Redis and artifact folder. */
  workerEnv(prefix: string, overrides?: Record<string, string>): Record<string, string>;
}

/**
 * What the worker-process tests share, set up before the file's tests and torn down after them:
 * a fresh database, Redis, a synthetic data set of `images` images and an artifact folder.
 */
export function useWorkerStack(opts: { label: string; images: number; seed: number }): WorkerStack {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const s = { workers: [] as WorkerProcess[] } as WorkerStack;
  s.spawn = (env) => {
    const w = spawnWorker(env);
    s.workers.push(w);
    return w;
  };
  s.workerEnv = (prefix, overrides = {}) =>
    testWorkerEnv({ databaseUrl: s.databaseUrl, prefix, artifactDir: s.artifactDir }, overrides);
  beforeAll(async () => {
    db = await createTestDatabase(testDatabaseServerUrl());
    s.databaseUrl = db.url;
    s.prisma = createPrisma(db.url);
    s.sql = createSql(db.url, { max: 4 });
    s.redis = createRedis(testRedisUrl(), "worker");
    s.dataDir = mkdtempSync(path.join(os.tmpdir(), `xnn-${opts.label}-data-`));
    s.artifactDir = mkdtempSync(path.join(os.tmpdir(), `xnn-${opts.label}-artifacts-`));
    await generateSynthetic({ out: s.dataDir, n: opts.images, size: 32, seed: opts.seed });
  });
  afterAll(async () => {
    for (const w of s.workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
    await s.prisma?.$disconnect();
    await s.sql?.end({ timeout: 1 });
    s.redis?.disconnect();
    await db?.drop();
    if (s.dataDir) rmSync(s.dataDir, { force: true, recursive: true });
    if (s.artifactDir) rmSync(s.artifactDir, { force: true, recursive: true });
  });
  return s;
}
