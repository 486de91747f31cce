import type { Sql } from "@xnn/db";
import {
  type EarlyTerminate,
  earlyTerminateSchema,
  type Logger,
  PRUNE_KEY_TTL_SEC,
  type PruneSignal,
  pruneKey,
} from "@xnn/shared";
import type { Redis } from "ioredis";
import { type CurvePoint, decideSweep, type SweepRun } from "./pruneRule";

/**
 * The scheduler side of early termination. Each pass reads the curves of every open sweep that
 * has an `earlyTerminate` rule, judges each running run against the runs of its sweep and stage
 * (FE runs with FE runs, FT with FT), and asks the worker of each run the rule stops to stop it
 * (a Redis key, as cancellation does). The worker lets the run finish the epoch in progress, ends
 * it as `pruned` there and prunes the FT runs that would start from it. An FE run that ended before
 * a pass judged it has its queued FT runs asked to stop instead (decideSweep); their worker ends
 * them as `pruned` before they start. Decisions depend only on
 * recorded curves (see pruneRule), so passes may repeat, overlap or run in several API processes.
 */
export interface PrunerDeps {
  sql: Sql;
  redis: Redis;
  logger?: Logger;
}

export interface PruneAction {
  runId: string;
  sweepId: string;
  signal: PruneSignal;
}

interface MetricRow {
  runId: string;
  epoch: number;
  value: number;
  at: Date;
}

/** One pass: the runs it asked to stop now (a run already asked is asked again, harmlessly). */
export async function prunePass(deps: PrunerDeps): Promise<PruneAction[]> {
  const { sql } = deps;
  const sweeps = await sql<{ id: string; rule: unknown }[]>`
    SELECT id, search->'earlyTerminate' AS rule FROM "Sweep"
    WHERE status IN ('queued', 'running') AND search IS NOT NULL
      AND jsonb_typeof(search->'earlyTerminate') = 'object'`;
  const actions: PruneAction[] = [];
  for (const sweep of sweeps) {
    const parsed = earlyTerminateSchema.safeParse(sweep.rule);
    if (!parsed.success) {
      deps.logger?.warn({ sweepId: sweep.id }, "sweep's earlyTerminate does not parse; not pruning it");
      continue;
    }
    actions.push(...(await pruneSweep(deps, sweep.id, parsed.data)));
  }
  if (actions.length > 0) {
    const multi = deps.redis.multi();
    for (const a of actions) multi.set(pruneKey(a.runId), JSON.stringify(a.signal), "EX", PRUNE_KEY_TTL_SEC);
    await multi.exec();
    for (const a of actions) deps.logger?.info({ runId: a.runId, reason: a.signal.reason }, "pruning run");
  }
  return actions;
}

/** What the rule stops in one sweep now (decideSweep on its recorded curves). */
export async function pruneSweep(
  deps: Pick<PrunerDeps, "sql">,
  sweepId: string,
  rule: EarlyTerminate,
): Promise<PruneAction[]> {
  const { sql } = deps;
  const [split, name] = rule.metric.split(".") as [string, string];
  const runs = await sql<SweepRun[]>`
    SELECT id, stage::text AS stage, status::text AS status, "feRunId",
      COALESCE((config->'train'->>'epochs')::int, 0) AS "maxEpochs"
    FROM "Run" WHERE "sweepId" = ${sweepId}`;
  if (!runs.some((r) => r.status === "running" || (r.status === "queued" && r.feRunId))) return [];
  const metrics = await sql<MetricRow[]>`
    SELECT m."runId", m.epoch, m.value, m."createdAt" AS at
    FROM "EpochMetric" m JOIN "Run" r ON r.id = m."runId"
    WHERE r."sweepId" = ${sweepId} AND m.split = ${split} AND m.name = ${name}`;
  const pointsByRun = new Map<string, CurvePoint[]>();
  for (const m of metrics) {
    const list = pointsByRun.get(m.runId) ?? [];
    list.push({ epoch: m.epoch, value: m.value, at: m.at.getTime() });
    pointsByRun.set(m.runId, list);
  }
  return decideSweep(rule, runs, pointsByRun).map((d) => ({
    runId: d.runId,
    sweepId,
    signal:
      d.numbers === null
        ? { reason: d.reason, numbers: null, feRunId: d.feRunId }
        : { reason: d.reason, numbers: d.numbers },
  }));
}
