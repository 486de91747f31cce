import type { Sql } from "@xnn/db";
import { type EarlyTerminate, earlyTerminateSchema, type PruneSignal } from "@xnn/shared";
import { judgedEpochs } from "./pruneRule";
import { pruneSweep } from "./pruner";

/**
 * The worker side of early termination. The search scheduler's passes stop a run only once its
 * worker hears of it, by then well into the next epoch; so a worker also asks the rule itself at
 * the end of each epoch the rule judges (an ASHA rung), after that epoch's metrics are in Postgres
 * and before it starts the next, as Ray Tune's trial runner does. Both sides run the same
 * decision on the same recorded curves (decideSweep: a verdict depends on which runs reached the
 * epoch first, never on when it is asked), so they agree, and a run pruned at a rung trains no
 * epoch past it.
 */
export interface RunRule {
  sweepId: string;
  rule: EarlyTerminate;
  /** The epochs at which the rule judges this run, ascending; empty when its stage is not judged. */
  epochs: number[];
}

/** The early-termination rule that judges a run, or null when its sweep has none (or none that parses). */
export async function runRule(sql: Sql, runId: string): Promise<RunRule | null> {
  const rows = await sql<{ sweepId: string; rule: unknown; stage: string; maxEpochs: number }[]>`
    SELECT r."sweepId", s.search->'earlyTerminate' AS rule, r.stage::text AS stage,
      COALESCE((r.config->'train'->>'epochs')::int, 0) AS "maxEpochs"
    FROM "Run" r JOIN "Sweep" s ON s.id = r."sweepId"
    WHERE r.id = ${runId} AND jsonb_typeof(s.search->'earlyTerminate') = 'object'`;
  const row = rows[0];
  if (!row) return null;
  const parsed = earlyTerminateSchema.safeParse(row.rule);
  if (!parsed.success) return null;
  return {
    sweepId: row.sweepId,
    rule: parsed.data,
    epochs: judgedEpochs(parsed.data, row.stage, row.maxEpochs),
  };
}

/**
 * The rule's verdict on a running run from the curves recorded now: the prune signal the search
 * scheduler would send it, or null when it goes on. Call it once the run's latest epoch is stored.
 */
export async function judgeRun(sql: Sql, runId: string, rule: RunRule): Promise<PruneSignal | null> {
  const actions = await pruneSweep({ sql }, rule.sweepId, rule.rule);
  return actions.find((a) => a.runId === runId)?.signal ?? null;
}
