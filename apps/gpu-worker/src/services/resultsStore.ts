import type { Sql } from "@xnn/db";

/** One epoch as the trainer reports it (kept structural so this file does not depend on the engine). */
export interface EpochRecord {
  epoch: number;
  lr: number;
  train: { loss: number; accuracy: number };
  val: { loss: number; accuracy: number; precision: number; recall: number; f1: number };
  durationMs: number;
  imagesPerSec: number;
}

/** Explanation quality of the best checkpoint on the run's probe set (packages/ml explanationQuality). */
export interface ExplanationRecord {
  probeImages: number;
  meanCompletenessGap: number;
  meanStepsUsed: number;
  deletionAuc: number;
  insertionAuc: number;
  maskShare: number | null;
  durationMs: number;
  perImage: {
    path: string;
    label: number;
    completenessGap: number;
    stepsUsed: number;
    deletionAuc: number;
    insertionAuc: number;
    maskShare: number | null;
  }[];
}

export interface FinalResults {
  bestEpoch: number;
  bestValF1: number;
  epochsRun: number;
  test: {
    accuracy: number;
    precision: number;
    recall: number;
    f1: number;
    perClass: Record<string, unknown>;
    microAp: number;
    classNames: string[];
    confusion: number[][];
    curves: Record<string, { precision: number[]; recall: number[]; thresholds: number[] }>;
  };
  predictions: { path: string; label: number; predicted: number; probs: number[] }[];
  checkpoint: { uri: string; sha256: string; sizeBytes: number; epoch: number };
  history: EpochRecord[];
  /** Null when not computed (eval.probePerClass 0, or the step failed). */
  explanation?: ExplanationRecord | null;
}

/** NaN and infinities (a probe set with no image) are stored as NULL, never as a float special. */
const finite = (v: number | null | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;

/** The Evaluation columns of an explanation record; every one null when there is none. */
export function explanationColumns(e: ExplanationRecord | null | undefined) {
  if (!e || e.probeImages === 0) {
    return {
      explainProbes: null,
      explainGap: null,
      explainSteps: null,
      deletionAuc: null,
      insertionAuc: null,
      maskShare: null,
      explainMs: null,
      explainPerImage: null,
    };
  }
  return {
    explainProbes: e.probeImages,
    explainGap: finite(e.meanCompletenessGap),
    explainSteps: finite(e.meanStepsUsed),
    deletionAuc: finite(e.deletionAuc),
    insertionAuc: finite(e.insertionAuc),
    maskShare: finite(e.maskShare),
    explainMs: Math.round(e.durationMs),
    explainPerImage: JSON.stringify(
      e.perImage.map((p) => ({
        ...p,
        completenessGap: finite(p.completenessGap),
        deletionAuc: finite(p.deletionAuc),
        insertionAuc: finite(p.insertionAuc),
        maskShare: finite(p.maskShare),
      })),
    ),
  };
}

export function epochRows(runId: string, m: EpochRecord) {
  const rows: { runId: string; epoch: number; split: string; name: string; value: number }[] = [];
  const add = (split: string, name: string, value: number) => {
    if (Number.isFinite(value)) rows.push({ runId, epoch: m.epoch, split, name, value });
  };
  add("train", "loss", m.train.loss);
  add("train", "accuracy", m.train.accuracy);
  add("train", "lr", m.lr);
  add("train", "images_per_sec", m.imagesPerSec);
  add("train", "duration_ms", m.durationMs);
  add("val", "loss", m.val.loss);
  add("val", "accuracy", m.val.accuracy);
  add("val", "precision", m.val.precision);
  add("val", "recall", m.val.recall);
  add("val", "f1", m.val.f1);
  return rows;
}

/**
 * Every write a run makes, through postgres.js: batched, idempotent (safe to repeat after a retry
 * or a crash), and each final write in one transaction.
 */
export class ResultsStore {
  constructor(private readonly sql: Sql) {}

  async markRunning(runId: string, sweepId: string, workerId: string, attempt: number): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`UPDATE "Run" SET status = 'running', attempt = ${attempt}, "workerId" = ${workerId},
        "startedAt" = COALESCE("startedAt", now()), error = NULL WHERE id = ${runId}`;
      await tx`UPDATE "Sweep" SET status = 'running', "updatedAt" = now()
        WHERE id = ${sweepId} AND status IN ('pending', 'queued')`;
    });
  }

  /** Upserts epochs (unique on run, epoch, split, name): writing the same epoch twice changes nothing. */
  async upsertEpochs(runId: string, epochs: EpochRecord[]): Promise<void> {
    if (epochs.length === 0) return;
    const rows = epochs.flatMap((m) => epochRows(runId, m));
    const maxEpoch = Math.max(...epochs.map((e) => e.epoch));
    const bestF1 = Math.max(...epochs.map((e) => e.val.f1));
    await this.sql.begin(async (tx) => {
      await tx`
        INSERT INTO "EpochMetric" ("runId", epoch, split, name, value)
        SELECT r."runId", r.epoch, r.split, r.name, r.value
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
          AS r("runId" text, epoch int, split text, name text, value double precision)
        ON CONFLICT ("runId", epoch, split, name) DO UPDATE SET value = EXCLUDED.value`;
      await tx`UPDATE "Run" SET "epochsDone" = GREATEST("epochsDone", ${maxEpoch}),
        "bestValF1" = GREATEST(COALESCE("bestValF1", '-Infinity'::float8), ${bestF1})
        WHERE id = ${runId}`;
    });
  }

  /** Stores evaluation, curves, confusion matrix, predictions and checkpoint, and ends the run: all or nothing. */
  async saveFinal(runId: string, sweepId: string, r: FinalResults): Promise<void> {
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
      for (const table of ["Evaluation", "PrCurvePoint", "ConfusionMatrix", "Prediction"]) {
        await tx`DELETE FROM ${tx(table)} WHERE "runId" = ${runId} AND split = 'test'`;
      }
      await tx`DELETE FROM "Checkpoint" WHERE "runId" = ${runId} AND kind = 'best'`;
      // The explanation-quality figures ride on the test evaluation row: the delete above makes a
      // repeated write (retry, or a run resumed after a crash) replace them, never duplicate them.
      await tx`INSERT INTO "Evaluation" (id, "runId", split, accuracy, precision, recall, f1, "perClass", "microAp",
          "explainProbes", "explainGap", "explainSteps", "deletionAuc", "insertionAuc", "maskShare", "explainMs",
          "explainPerImage")
        VALUES (gen_random_uuid()::text, ${runId}, 'test', ${r.test.accuracy}, ${r.test.precision}, ${r.test.recall},
          ${r.test.f1}, ${JSON.stringify(r.test.perClass)}::text::jsonb, ${r.test.microAp},
          ${ex.explainProbes}, ${ex.explainGap}, ${ex.explainSteps}, ${ex.deletionAuc}, ${ex.insertionAuc},
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
      await tx`UPDATE "Run" SET status = 'succeeded', "finishedAt" = now(), error = NULL,
        "bestEpoch" = ${r.bestEpoch}, "bestValF1" = ${r.bestValF1}, "bestValLoss" = ${best?.val.loss ?? null},
        "testF1" = ${r.test.f1}, "epochsDone" = GREATEST("epochsDone", ${r.epochsRun})
        WHERE id = ${runId}`;
    });
    await this.refreshSweepStatus(sweepId);
  }

  async markEnded(
    runId: string,
    sweepId: string,
    status: "failed" | "cancelled",
    error: string,
  ): Promise<void> {
    await this.sql`UPDATE "Run" SET status = ${status}, error = ${error.slice(0, 4000)}, "finishedAt" = now()
      WHERE id = ${runId} AND status NOT IN ('succeeded')`;
    await this.refreshSweepStatus(sweepId);
  }

  /** A sweep ends when its last run ends: succeeded if every run did, failed if any failed. */
  async refreshSweepStatus(sweepId: string): Promise<void> {
    // EXISTS probes on the (sweepId, status) index: cheap even when a sweep has 10,000 runs.
    await this.sql`
      UPDATE "Sweep" s SET "updatedAt" = now(), status = (CASE
        WHEN EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status = 'failed') THEN 'failed'
        WHEN EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status = 'cancelled') THEN 'cancelled'
        ELSE 'succeeded' END)::"SweepStatus"
      WHERE s.id = ${sweepId} AND s.status NOT IN ('cancelled', 'succeeded', 'failed')
        AND NOT EXISTS (SELECT 1 FROM "Run" WHERE "sweepId" = ${sweepId} AND status IN ('queued', 'running'))`;
  }

  async runStatus(runId: string): Promise<string | null> {
    const rows = await this.sql<{ status: string }[]>`SELECT status FROM "Run" WHERE id = ${runId}`;
    return rows[0]?.status ?? null;
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
