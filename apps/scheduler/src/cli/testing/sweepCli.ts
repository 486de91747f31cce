import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createPrisma, type PrismaClient } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { createRedis, RUNS_QUEUE } from "@xnn/shared";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";

const cliDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = path.resolve(cliDir, "../../../..");
const tsx = path.join(repoRoot, "node_modules/.bin/tsx");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `pnpm sweep ARGS` as a process in the repository root, with `env` over this process's. */
export async function sweepCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(tsx, [path.join(cliDir, "sweep.ts"), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env, XNN_LOG_LEVEL: "warn" },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface SweepCliStack {
  prisma: PrismaClient;
  /** The runs queue the CLI enqueues to (a prefix of this file's own). */
  queue: Queue;
  /** DATABASE_URL, REDIS_URL and XNN_QUEUE_PREFIX for sweepCli. */
  env: Record<string, string>;
}

/** A fresh database and queue for this file's `pnpm sweep` processes, dropped after its tests. */
export function useSweepCliStack(): SweepCliStack {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let redis: Redis | undefined;
  const s = {} as SweepCliStack;
  beforeAll(async () => {
    db = await createTestDatabase(testDatabaseServerUrl());
    s.prisma = createPrisma(db.url);
    redis = createRedis(testRedisUrl(), "worker");
    const prefix = testQueuePrefix();
    s.queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
    s.env = { DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), XNN_QUEUE_PREFIX: prefix };
  });
  afterAll(async () => {
    await s.queue?.obliterate({ force: true });
    await s.queue?.close();
    redis?.disconnect();
    await s.prisma?.$disconnect();
    await db?.drop();
  });
  return s;
}
