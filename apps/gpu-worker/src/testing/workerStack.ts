import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPrisma, createSql, type PrismaClient, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testRedisUrl } from "@xnn/db/testing";
import { generateSynthetic } from "@xnn/ml";
import { createRedis } from "@xnn/shared";
import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { testWorkerEnv } from "./testWorkers";
import { spawnWorker, type WorkerProcess } from "./workerHarness";

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
