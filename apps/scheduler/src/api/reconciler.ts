import type { Sql } from "@xnn/db";
import { startReconciler } from "@xnn/orchestration";
import { type Logger, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";

/** Margin over the lock duration before a silent worker's run is shown as queued again. */
export const LOST_WORKER_MARGIN_MS = 15_000;

/** The API process's reconciler: a pass at start-up, then one every `intervalMs` (0: start-up only). */
export function startRunReconciler(opts: {
  sql: Sql;
  redis: Redis;
  prefix: string;
  logger: Logger;
  intervalMs: number;
  lockDurationMs: number;
}) {
  const queue = new Queue(RUNS_QUEUE, { connection: opts.redis, prefix: opts.prefix });
  const flows = new FlowProducer({ connection: opts.redis, prefix: opts.prefix });
  queue.on("error", (err) => opts.logger.warn({ err: err.message }, "reconciler queue error"));
  flows.on("error", (err) => opts.logger.warn({ err: err.message }, "reconciler flow producer error"));
  const reconciler = startReconciler(
    { sql: opts.sql, queue, flows, redis: opts.redis, logger: opts.logger },
    {
      intervalMs: opts.intervalMs > 0 ? opts.intervalMs : 2 ** 31 - 1,
      staleAfterMs: opts.lockDurationMs + LOST_WORKER_MARGIN_MS,
      lockKey: `xnn:reconcile:${opts.prefix}`,
    },
  );
  return {
    runOnce: reconciler.runOnce,
    async stop() {
      await reconciler.stop();
      await Promise.allSettled([queue.close(), flows.close()]);
    },
  };
}
