import {
  endRun,
  endRunPruned,
  type PrunedCheckpoint,
  refreshSweepStatus,
  type Sql,
  type TransactionSql,
} from "@xnn/db";
import { judgeRun, type RunRule, runRule } from "@xnn/orchestration";
import { faultPoint, type PruneSignal } from "@xnn/shared";
import {
  type EpochRecord,
  type ExplanationQuality,
  epochMetrics,
  type RunResultRecord,
  type StoredProbeScore,
} from "@xnn/shared/records";

// The records come from packages/shared: the training thread, this store and the API share them.
export type { EpochRecord };
/** Explanation quality of the best checkpoint on the run's probe set (packages/ml explanationQuality). */
export type ExplanationRecord = ExplanationQuality;
/** What a finished attempt hands saveFinal. */
export type FinalResults = RunResultRecord;

export type ClaimOutcome =
  | { kind: "claimed"; crashes: number; resumedCrash: boolean }
  | { kind: "succeeded" }
  | { kind: "ended"; status: string; error: string }
  | { kind: "crashBudget"; error: string }
  | { kind: "missing" };

/** Another attempt owns the run now (this one's worker was cut off and the job was taken over). */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

export function crashDeathMessage(crashes: number, epochsDone: number): string {
  return `worker died ${crashes} times at epoch ${epochsDone + 1} (crash budget exceeded; see XNN_CRASH_BUDGET)`;
}

async function assertLease(tx: TransactionSql, runId: string, token: string): Promise<void> {
  const rows = await tx<{ leaseToken: string | null; status: string }[]>`
    SELECT "leaseToken", status FROM "Run" WHERE id = ${runId} FOR UPDATE`;
  const row = rows[0];
  if (!row) throw new LeaseLostError(`run ${runId} no longer exists`);
  if (row.leaseToken !== token)
    throw new LeaseLostError(`run ${runId} is owned by another attempt now (status ${row.status})`);
}

/** NaN and infinities (a probe set with no image) are stored as NULL, never as a float special. */
const finite = (v: number | null | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;

/** The Evaluation columns of an explanation record; every one null when there is none. */
export function explanationColumns(e: ExplanationRecord | null | undefined) {
  if (!e || e.probeImages === 0) {
    return {
      probeImages: null,
      completenessGap: null,
      stepsUsed: null,
      deletionAuc: null,
      insertionAuc: null,
      maskShare: null,
      explainMs: null,
      explainPerImage: null,
    };
  }
  const perImage: StoredProbeScore[] = e.perImage.map((p) => ({
    ...p,
    completenessGap: finite(p.completenessGap),
    deletionAuc: finite(p.deletionAuc),
    insertionAuc: finite(p.insertionAuc),
    maskShare: finite(p.maskShare),
  }));
  return {
    probeImages: e.probeImages,
    completenessGap: finite(e.completenessGap),
    stepsUsed: finite(e.stepsUsed),
    deletionAuc: finite(e.deletionAuc),
    insertionAuc: finite(e.insertionAuc),
    maskShare: finite(e.maskShare),
    explainMs: Math.round(e.durationMs),
    explainPerImage: JSON.stringify(perImage),
  };
}

export function epochRows(runId: string, m: EpochRecord) {
  return epochMetrics(m).map((row) => ({ runId, ...row }));
}

/**
 * Every write a run makes, through postgres.js: batched, idempotent (safe to repeat after a retry
 * or a crash), and each final write in one transaction.
 */
export class ResultsStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Takes the run for one attempt (identified by its BullMQ lock token). A run found `running`
   * under another token was left by an attempt whose worker died: that is a crash, counted here,
   * and past `crashBudget` the run fails instead of being trained again. A run that already ended
   * (a worker killed after its final save) is not touched.
   */
  async claimRun(
    runId: string,
    sweepId: string,
    claim: { workerId: string; attempt: number; token: string; crashBudget: number },
  ): Promise<ClaimOutcome> {
    const outcome = await this.sql.begin(async (tx): Promise<ClaimOutcome> => {
      const rows = await tx<
        {
          status: string;
          crashes: number;
          epochsDone: number;
          leaseToken: string | null;
          error: string | null;
        }[]
      >`SELECT status, crashes, "epochsDone", "leaseToken", error FROM "Run" WHERE id = ${runId} FOR UPDATE`;
      const row = rows[0];
      if (!row) return { kind: "missing" };
      if (row.status === "succeeded") return { kind: "succeeded" };
      if (row.status === "failed" || row.status === "cancelled" || row.status === "pruned")
        return { kind: "ended", status: row.status, error: row.error ?? row.status };
      const crashed = row.status === "running" && row.leaseToken !== claim.token;
      const crashes = row.crashes + (crashed ? 1 : 0);
      if (crashes > claim.crashBudget) {
        const error = crashDeathMessage(crashes, row.epochsDone);
        await tx`UPDATE "Run" SET status = 'failed', crashes = ${crashes}, error = ${error},
          "finishedAt" = now(), "leaseToken" = NULL WHERE id = ${runId}`;
        return { kind: "crashBudget", error };
      }
      await tx`UPDATE "Run" SET status = 'running', attempt = ${claim.attempt}, "workerId" = ${claim.workerId},
        crashes = ${crashes}, "leaseToken" = ${claim.token},
        "startedAt" = COALESCE("startedAt", now()), error = NULL WHERE id = ${runId}`;
      await tx`UPDATE "Sweep" SET status = 'running', "updatedAt" = now()
        WHERE id = ${sweepId} AND status IN ('pending', 'queued')`;
      return { kind: "claimed", crashes, resumedCrash: crashed };
    });
    if (outcome.kind === "crashBudget") await this.refreshSweepStatus(sweepId);
    return outcome;
  }

  /**
   * Gives the run back to the queue without ending it (graceful shutdown, or an attempt that failed
   * and will be retried): the next claim is not counted as a crash.
   */
  async releaseRun(runId: string, token: string, note: string | null): Promise<void> {
    await this.sql`UPDATE "Run" SET status = 'queued', "leaseToken" = NULL, error = ${note}
      WHERE id = ${runId} AND status = 'running' AND "leaseToken" = ${token}`;
  }

  /** Upserts epochs (unique on run, epoch, split, name): writing the same epoch twice changes nothing. */
  async upsertEpochs(runId: string, epochs: EpochRecord[], token: string): Promise<void> {
    if (epochs.length === 0) return;
    const rows = epochs.flatMap((m) => epochRows(runId, m));
    const maxEpoch = Math.max(...epochs.map((e) => e.epoch));
    const bestF1 = Math.max(...epochs.map((e) => e.val.f1));
    await this.sql.begin(async (tx) => {
      await assertLease(tx, runId, token);
      await tx`
        INSERT INTO "EpochMetric" ("runId", epoch, split, name, value)
        SELECT r."runId", r.epoch, r.split, r.name, r.value
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
          AS r("runId" text, epoch int, split text, name text, value double precision)
        ON CONFLICT ("runId", epoch, split, name) DO UPDATE SET value = EXCLUDED.value`;
      // A row the reconciler set back to queued (its worker's heartbeat was late) runs again.
      await tx`UPDATE "Run" SET "epochsDone" = GREATEST("epochsDone", ${maxEpoch}), status = 'running',
        "finishedAt" = NULL,
        "bestValF1" = GREATEST(COALESCE("bestValF1", '-Infinity'::float8), ${bestF1})
        WHERE id = ${runId}`;
    });
  }

  /** Stores evaluation, curves, confusion matrix, predictions and checkpoint, and ends the run: all or nothing. */
  async saveFinal(runId: string, sweepId: string, r: FinalResults, token: string): Promise<void> {
    const curvePoints = Object.entries(r.test.curves).flatMap(([curve, c]) =>
      c.precision.map((precision, idx) => ({
        curve,
        idx,
        precision,
        recall: c.recall[idx],
        threshold: idx < c.thresholds.length ? c.thresholds[idx] : null,
      })),
    );
    const best = r.history.find((h) => h.epoch === r.bestEpoch);
    const ex = explanationColumns(r.explanation);
    await this.sql.begin(async (tx) => {
      await assertLease(tx, runId, token);
      for (const table of ["Evaluation", "PrCurvePoint", "ConfusionMatrix", "Prediction"]) {
        await tx`DELETE FROM ${tx(table)} WHERE "runId" = ${runId} AND split = 'test'`;
      }
      await tx`DELETE FROM "Checkpoint" WHERE "runId" = ${runId} AND kind = 'best'`;
      // A worker killed here leaves an open transaction that Postgres rolls back: nothing half-written.
      await faultPoint("final-save");
      // The explanation-quality figures ride on the test evaluation row: the delete above makes a
      // repeated write (retry, or a run resumed after a crash) replace them, never duplicate them.
      await tx`INSERT INTO "Evaluation" (id, "runId", split, accuracy, precision, recall, f1, "perClass", "microAp",
          "probeImages", "completenessGap", "stepsUsed", "deletionAuc", "insertionAuc", "maskShare", "explainMs",
          "explainPerImage")
        VALUES (gen_random_uuid()::text, ${runId}, 'test', ${r.test.accuracy}, ${r.test.precision}, ${r.test.recall},
          ${r.test.f1}, ${JSON.stringify(r.test.perClass)}::text::jsonb, ${r.test.microAp},
          ${ex.probeImages}, ${ex.completenessGap}, ${ex.stepsUsed}, ${ex.deletionAuc}, ${ex.insertionAuc},
          ${ex.maskShare}, ${ex.explainMs}, ${ex.explainPerImage}::text::jsonb)`;
      await tx`
        INSERT INTO "PrCurvePoint" ("runId", split, curve, idx, threshold, precision, recall)
        SELECT ${runId}, 'test', p.curve, p.idx, p.threshold, p.precision, p.recall
        FROM jsonb_to_recordset(${JSON.stringify(curvePoints)}::text::jsonb)
          AS p(curve text, idx int, threshold double precision, precision double precision, recall double precision)`;
      await tx`INSERT INTO "ConfusionMatrix" (id, "runId", split, "classNames", counts)
        VALUES (gen_random_uuid()::text, ${runId}, 'test', ${r.test.classNames}, ${JSON.stringify(r.test.confusion)}::text::jsonb)`;
      await tx`
        INSERT INTO "Prediction" ("runId", split, "itemPath", label, predicted, probabilities)
        SELECT ${runId}, 'test', p.path, p.label, p.predicted,
          ARRAY(SELECT jsonb_array_elements_text(p.probs)::double precision)
        FROM jsonb_to_recordset(${JSON.stringify(r.predictions)}::text::jsonb)
          AS p(path text, label int, predicted int, probs jsonb)`;
      await tx`INSERT INTO "Checkpoint" (id, "runId", epoch, kind, uri, sha256, "sizeBytes", "valF1")
        VALUES (gen_random_uuid()::text, ${runId}, ${r.checkpoint.epoch}, 'best', ${r.checkpoint.uri},
          ${r.checkpoint.sha256}, ${r.checkpoint.sizeBytes}, ${r.bestValF1})`;
      // The lease stays: a retried saveFinal of the same attempt (its commit's answer lost) repeats it.
      await tx`UPDATE "Run" SET status = 'succeeded', "finishedAt" = now(), error = NULL,
        "bestEpoch" = ${r.bestEpoch}, "bestValF1" = ${r.bestValF1}, "bestValLoss" = ${best?.val.loss ?? null},
        "testF1" = ${r.test.f1}, "epochsDone" = GREATEST("epochsDone", ${r.epochsRun})
        WHERE id = ${runId}`;
    });
    await this.refreshSweepStatus(sweepId);
  }

  /** Ends the run as failed or cancelled (see endRun); with `token`, only while that attempt owns it. */
  async markEnded(
    runId: string,
    sweepId: string,
    status: "failed" | "cancelled",
    error: string,
    token?: string,
  ): Promise<void> {
    await endRun(this.sql, runId, status, error, token);
    await this.refreshSweepStatus(sweepId);
  }

  /** Ends the run as pruned, keeping its best checkpoint; its FT runs are pruned with it (see endRunPruned). */
  /** The early-termination rule of the run's sweep and the epochs it judges the run at; null: none. */
  runRule(runId: string): Promise<RunRule | null> {
    return runRule(this.sql, runId);
  }

  /** The rule's verdict on the run from the curves stored now (its latest epoch must be stored). */
  judgeRun(runId: string, rule: RunRule): Promise<PruneSignal | null> {
    return judgeRun(this.sql, runId, rule);
  }

  async markPruned(
    runId: string,
    sweepId: string,
    decision: { reason: string; numbers: unknown },
    checkpoint: PrunedCheckpoint | null,
    token?: string,
  ): Promise<void> {
    await endRunPruned(this.sql, runId, decision, checkpoint, token);
    await this.refreshSweepStatus(sweepId);
  }

  async refreshSweepStatus(sweepId: string): Promise<void> {
    await refreshSweepStatus(this.sql, sweepId);
  }

  async runStatus(runId: string): Promise<string | null> {
    const rows = await this.sql<{ status: string }[]>`SELECT status FROM "Run" WHERE id = ${runId}`;
    return rows[0]?.status ?? null;
  }

  /** The queue result of a run that already succeeded (its worker died after the final save). */
  async storedResult(runId: string) {
    const rows = await this.sql<
      {
        uri: string;
        sha256: string;
        epoch: number;
        valF1: number | null;
        testF1: number | null;
        epochsDone: number;
      }[]
    >`
      SELECT c.uri, c.sha256, c.epoch, c."valF1", r."testF1", r."epochsDone"
      FROM "Run" r JOIN "Checkpoint" c ON c."runId" = r.id AND c.kind = 'best'
      WHERE r.id = ${runId} AND r.status = 'succeeded'`;
    return rows[0] ?? null;
  }

  /** The FE run's best checkpoint, for an FT run whose queue result was lost. */
  async bestCheckpoint(runId: string) {
    const rows = await this.sql<
      {
        uri: string;
        sha256: string;
        epoch: number;
        valF1: number | null;
        status: string;
        error: string | null;
      }[]
    >`
      SELECT c.uri, c.sha256, c.epoch, c."valF1", r.status, r.error
      FROM "Run" r LEFT JOIN "Checkpoint" c ON c."runId" = r.id AND c.kind = 'best'
      WHERE r.id = ${runId}`;
    return rows[0] ?? null;
  }
}
