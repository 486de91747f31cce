import type { Sql } from "@xnn/db";
import {
  type ClassMetrics,
  type ComparedRun,
  type Comparison,
  PRODUCTION_ALIAS,
  type RunStatusName,
  type StageKind,
} from "@xnn/shared/records";
import { configDiff } from "./configDiff";
import { displayCurves } from "./runCurves";
import { epochSeries } from "./runMetrics";
import { type ExplanationColumns, toExplanation } from "./runRows";

export type { ComparedRun, Comparison } from "@xnn/shared/records";

export const MAX_COMPARE_RUNS = 500;

/**
 * Everything the comparison view draws for up to 500 runs, in five set-based queries (postgres.js,
 * no per-run round trips). Runs come back in the order asked for; unknown ids are listed in `missing`.
 */
export async function compareRuns(sql: Sql, ids: string[]): Promise<Comparison & { missing: string[] }> {
  const runIds = [...new Set(ids)];
  const arr = sql.array(runIds);
  const [runs, evaluations, confusions, series, curves] = await Promise.all([
    sql<
      {
        id: string;
        key: string;
        model: string;
        classWeighting: string;
        stage: StageKind;
        status: RunStatusName;
        testF1: number | null;
        bestValF1: number | null;
        config: unknown;
        pruned: ComparedRun["pruned"];
        isProduction: boolean;
      }[]
    >`SELECT id, key, model, "classWeighting", stage::text AS stage, status::text AS status,
             "testF1", "bestValF1", config, pruned,
             EXISTS (SELECT 1 FROM "ModelVersion" mv WHERE mv."runId" = r.id AND mv.alias = ${PRODUCTION_ALIAS})
               AS "isProduction"
      FROM "Run" r WHERE id = ANY(${arr})`,
    sql<
      ({
        runId: string;
        accuracy: number;
        precision: number;
        recall: number;
        f1: number;
        microAp: number;
        loss: number | null;
        perClass: Record<string, ClassMetrics>;
      } & ExplanationColumns)[]
    >`
      SELECT "runId", accuracy, precision, recall, f1, "microAp", loss, "perClass",
             "probeImages", "completenessGap", "stepsUsed", "deletionAuc", "insertionAuc", "maskShare", "explainMs"
      FROM "Evaluation" WHERE "runId" = ANY(${arr}) AND split = 'test'`,
    sql<{ runId: string; classNames: string[]; counts: number[][] }[]>`
      SELECT "runId", "classNames", counts FROM "ConfusionMatrix"
      WHERE "runId" = ANY(${arr}) AND split = 'test'`,
    epochSeries(sql, runIds),
    displayCurves(sql, runIds, "test"),
  ]);
  const byId = new Map(runs.map((r) => [r.id, r]));
  const evalById = new Map(evaluations.map((e) => [e.runId, e]));
  const confusionById = new Map(confusions.map((c) => [c.runId, c]));
  const ordered = runIds.flatMap((id) => {
    const r = byId.get(id);
    return r ? [r] : [];
  });
  return {
    runs: ordered.map((r) => {
      const ev = evalById.get(r.id);
      const cm = confusionById.get(r.id);
      const test = ev
        ? {
            accuracy: ev.accuracy,
            precision: ev.precision,
            recall: ev.recall,
            f1: ev.f1,
            microAp: ev.microAp,
            loss: ev.loss,
            perClass: ev.perClass,
          }
        : null;
      return {
        id: r.id,
        key: r.key,
        model: r.model,
        classWeighting: r.classWeighting,
        stage: r.stage,
        status: r.status,
        pruned: r.pruned,
        testF1: r.testF1,
        bestValF1: r.bestValF1,
        metrics: { test },
        epochs: series.get(r.id) ?? {},
        curves: curves.get(r.id)?.curves ?? {},
        confusion: cm ? { classNames: cm.classNames, counts: cm.counts } : null,
        explanation: toExplanation(ev),
        isProduction: r.isProduction,
      };
    }),
    configDiff: configDiff(ordered.map((r) => ({ id: r.id, config: r.config }))),
    missing: runIds.filter((id) => !byId.has(id)),
  };
}
