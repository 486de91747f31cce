import type { Sql } from "@xnn/db";
import { testRedisUrl } from "@xnn/db/testing";
import { type Reconciler, startReconciler } from "@xnn/orchestration";
import { createLogger, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";

// Worker environments and the reconciler as the worker-process tests and benchmarks run them
// (no vitest here: the benchmarks import it too).

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
