import type { Sql } from "./sql";

/**
 * The run and sweep status transitions that several processes make (a worker ending its run, the
 * reconciler ending a run the queue gave up on): one definition, so they cannot drift.
 */

/**
 * Ends a run that has not ended yet as failed or cancelled; a run that already succeeded, failed or
 * was cancelled is left as it is. With `leaseToken`, only while that attempt still owns the run.
 * Returns whether the row changed.
 */
export async function endRun(
  sql: Sql,
  runId: string,
  status: "failed" | "cancelled",
  error: string,
  leaseToken?: string,
): Promise<boolean> {
  const token = leaseToken ?? null;
  const rows =
    await sql`UPDATE "Run" SET status = ${status}, error = ${error.slice(0, 4000)}, "finishedAt" = now(),
      "leaseToken" = NULL
    WHERE id = ${runId} AND status NOT IN ('succeeded', 'failed', 'cancelled', 'pruned')
      AND (${token}::text IS NULL OR "leaseToken" IS NULL OR "leaseToken" = ${token}::text)
    RETURNING id`;
  return rows.length > 0;
}

/**
 * A sweep ends when its last run ends: failed if any run failed, cancelled if any was cancelled,
 * succeeded otherwise (pruned runs are the search working as asked, not a failure).
 */
export async function refreshSweepStatus(sql: Sql, sweepId: string): Promise<void> {
  // EXISTS probes on the (sweepId, status) index: cheap even when a sweep has 10,000 runs.
  await sql`
    UPDATE "Sweep" s SET "updatedAt" = now(), status = (CASE
      WHEN EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status = 'failed') THEN 'failed'
      WHEN EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status = 'cancelled') THEN 'cancelled'
      ELSE 'succeeded' END)::"SweepStatus"
    WHERE s.id = ${sweepId} AND s.status NOT IN ('cancelled', 'succeeded', 'failed')
      AND NOT EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status IN ('queued', 'running'))
      -- A bayes sweep lasts until it has proposed all its points: the proposer adds the next ones
      -- after runs end, so a moment with no open run is not its end.
      AND NOT (COALESCE(s.search->>'method', 'grid') = 'bayes'
        AND (SELECT count(DISTINCT trial) FROM "Run" WHERE "sweepId" = ${sweepId}) < (s.search->>'runs')::int)`;
}

/** The best checkpoint a pruned run keeps, already in the artifact store. */
export interface PrunedCheckpoint {
  uri: string;
  sha256: string;
  sizeBytes: number;
}

/**
 * Ends a run as pruned by its sweep's early-termination rule, with the decision (`Run.pruned`) and,
 * when it trained at least one epoch, its best checkpoint (epoch and value from its recorded
 * val.f1). The FT runs that would start from it are pruned with it, in the same transaction, before
 * any worker can take them. With `leaseToken`, only while that attempt still owns the run.
 * Returns whether the run changed.
 */
export async function endRunPruned(
  sql: Sql,
  runId: string,
  decision: { reason: string; numbers: unknown },
  checkpoint: PrunedCheckpoint | null,
  leaseToken?: string,
): Promise<boolean> {
  const token = leaseToken ?? null;
  return sql.begin(async (tx) => {
    const best = await tx<{ epoch: number; value: number }[]>`
      SELECT epoch, value FROM "EpochMetric" WHERE "runId" = ${runId} AND split = 'val' AND name = 'f1'
      ORDER BY value DESC, epoch ASC LIMIT 1`;
    const b = best[0] ?? null;
    const rows = await tx`UPDATE "Run" SET status = 'pruned', error = NULL, "finishedAt" = now(),
        "leaseToken" = NULL, pruned = ${JSON.stringify(decision)}::text::jsonb,
        "bestEpoch" = COALESCE(${b?.epoch ?? null}::int, "bestEpoch"),
        "bestValF1" = COALESCE(${b?.value ?? null}::float8, "bestValF1")
      WHERE id = ${runId} AND status NOT IN ('succeeded', 'failed', 'cancelled', 'pruned')
        AND (${token}::text IS NULL OR "leaseToken" IS NULL OR "leaseToken" = ${token}::text)
      RETURNING id`;
    if (rows.length === 0) return false;
    if (checkpoint && b) {
      await tx`DELETE FROM "Checkpoint" WHERE "runId" = ${runId} AND kind = 'best'`;
      await tx`INSERT INTO "Checkpoint" (id, "runId", epoch, kind, uri, sha256, "sizeBytes", "valF1")
        VALUES (gen_random_uuid()::text, ${runId}, ${b.epoch}, 'best', ${checkpoint.uri},
          ${checkpoint.sha256}, ${checkpoint.sizeBytes}, ${b.value})`;
    }
    const cascade = {
      reason: `its FE run ${runId} was pruned: ${decision.reason}`,
      numbers: null,
      feRunId: runId,
    };
    await tx`UPDATE "Run" SET status = 'pruned', error = NULL, "finishedAt" = now(),
        pruned = ${JSON.stringify(cascade)}::text::jsonb
      WHERE "feRunId" = ${runId} AND status = 'queued'`;
    return true;
  });
}
