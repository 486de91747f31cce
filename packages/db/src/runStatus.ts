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
    WHERE id = ${runId} AND status NOT IN ('succeeded', 'failed', 'cancelled')
      AND (${token}::text IS NULL OR "leaseToken" IS NULL OR "leaseToken" = ${token}::text)
    RETURNING id`;
  return rows.length > 0;
}

/** A sweep ends when its last run ends: succeeded if every run did, failed if any failed. */
export async function refreshSweepStatus(sql: Sql, sweepId: string): Promise<void> {
  // EXISTS probes on the (sweepId, status) index: cheap even when a sweep has 10,000 runs.
  await sql`
    UPDATE "Sweep" s SET "updatedAt" = now(), status = (CASE
      WHEN EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status = 'failed') THEN 'failed'
      WHEN EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status = 'cancelled') THEN 'cancelled'
      ELSE 'succeeded' END)::"SweepStatus"
    WHERE s.id = ${sweepId} AND s.status NOT IN ('cancelled', 'succeeded', 'failed')
      AND NOT EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status IN ('queued', 'running'))`;
}
