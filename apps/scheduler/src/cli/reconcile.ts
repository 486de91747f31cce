import { createSql } from "@xnn/db";
import { reconcileRuns } from "@xnn/orchestration";
import {
  connectRedis,
  createRedis,
  EnvError,
  parseEnv,
  postgresUrl,
  queuePrefix,
  RUNS_QUEUE,
  redisUrl,
} from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import { z } from "zod";
import { LOST_WORKER_MARGIN_MS } from "../api/reconciler";

const USAGE = `Usage: pnpm xnn reconcile [--dry-run]

Compares the runs Postgres holds open with the jobs in the queue and repairs what disagrees:
fails runs whose job the queue failed, requeues runs whose worker stopped heartbeating, enqueues
again runs whose job vanished, removes jobs that have no run. --dry-run prints, changes nothing.

Environment: DATABASE_URL, REDIS_URL, XNN_QUEUE_PREFIX, XNN_LOCK_DURATION_MS (default 30000).`;

/** `pnpm xnn reconcile`: one pass, printed; exit 0 when applied (or dry), 1 when an action failed. */
export async function reconcileCommand(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const unknown = args.filter((a) => a !== "--dry-run");
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${unknown[0]}\n\n${USAGE}\n`);
    return 2;
  }
  let env: {
    DATABASE_URL: string;
    REDIS_URL: string;
    XNN_QUEUE_PREFIX: string;
    XNN_LOCK_DURATION_MS: number;
  };
  try {
    env = parseEnv({
      DATABASE_URL: postgresUrl,
      REDIS_URL: redisUrl.default("redis://127.0.0.1:6379"),
      XNN_QUEUE_PREFIX: queuePrefix,
      XNN_LOCK_DURATION_MS: z.coerce.number().int().min(1_000).default(30_000),
    });
  } catch (err) {
    if (err instanceof EnvError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const dryRun = args.includes("--dry-run");
  const sql = createSql(env.DATABASE_URL, { max: 4 });
  const redis = createRedis(env.REDIS_URL, "producer");
  try {
    await connectRedis(redis, env.REDIS_URL);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    redis.disconnect();
    await sql.end({ timeout: 2 });
    return 1;
  }
  const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix: env.XNN_QUEUE_PREFIX });
  const flows = new FlowProducer({ connection: redis, prefix: env.XNN_QUEUE_PREFIX });
  try {
    const report = await reconcileRuns(
      { sql, queue, flows },
      { dryRun, staleAfterMs: env.XNN_LOCK_DURATION_MS + LOST_WORKER_MARGIN_MS },
    );
    const verb = dryRun ? "would" : "did";
    process.stdout.write(
      `checked ${report.runsChecked} open run(s) and ${report.jobsChecked} job(s); ${report.actions.length} action(s)${dryRun ? " (dry run: nothing changed)" : ""}\n`,
    );
    for (const a of report.actions)
      process.stdout.write(`  ${verb} ${a.action} ${"runId" in a ? a.runId : a.jobId}: ${a.reason}\n`);
    for (const e of report.errors) process.stderr.write(`  failed: ${e}\n`);
    return report.errors.length > 0 ? 1 : 0;
  } catch (err) {
    process.stderr.write(`reconcile failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await Promise.allSettled([queue.close(), flows.close()]);
    redis.disconnect();
    await sql.end({ timeout: 2 });
  }
}
