import type { Sql } from "@xnn/db";
import type { Logger } from "@xnn/shared";
import type { FlowProducer } from "bullmq";
import type { Redis } from "ioredis";
import { type Proposal, proposePass } from "./proposeRuns";
import { type PruneAction, prunePass } from "./pruner";

export interface SearchScheduler {
  /** The pass now running, if any, then no more. */
  stop(): Promise<void>;
  /** One pass now (tests). */
  runOnce(): Promise<{ pruned: PruneAction[]; proposed: Proposal[] }>;
}

/**
 * The API process's sweep-search loop, every `intervalMs`: prune the runs the early-termination
 * rules stop (pruner.ts), then propose the next points of bayes sweeps (proposeRuns.ts). Epochs
 * take seconds at the least, so a second or two is prompt enough. Both passes decide from Postgres
 * alone and are safe to run in several processes at once.
 */
export function startSearchScheduler(
  deps: { sql: Sql; redis: Redis; flows: FlowProducer; logger?: Logger },
  opts: { intervalMs: number },
): SearchScheduler {
  type Result = { pruned: PruneAction[]; proposed: Proposal[] };
  let running: Promise<Result> | null = null;
  let stopped = false;
  const pass = async (): Promise<Result> => {
    const pruned = await prunePass(deps).catch((err) => {
      deps.logger?.warn({ err: (err as Error).message }, "prune pass failed; the next one retries");
      return [];
    });
    const proposed = await proposePass(deps).catch((err) => {
      deps.logger?.warn({ err: (err as Error).message }, "proposal pass failed; the next one retries");
      return [];
    });
    return { pruned, proposed };
  };
  const runOnce = () => {
    running ??= pass().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void runOnce();
  }, opts.intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
