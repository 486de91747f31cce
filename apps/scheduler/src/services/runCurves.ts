import type { Sql } from "@xnn/db";

export interface CurvePoint {
  recall: number;
  precision: number;
  threshold: number | null;
}

export interface RunCurves {
  split: string;
  curves: { [classOrMicro: string]: { ap: number | null; points: CurvePoint[] } };
}

/**
 * Precision-recall curves of runs for one split, keyed by run id. With `maxPoints`, each curve is
 * thinned in SQL to an even stride that keeps its first and last point, so comparing 200 runs does
 * not ship every threshold of every test image.
 */
export async function runCurves(
  sql: Sql,
  runIds: string[],
  split: string,
  maxPoints?: number,
): Promise<Map<string, RunCurves>> {
  const out = new Map<string, RunCurves>(runIds.map((id) => [id, { split, curves: {} }]));
  if (runIds.length === 0) return out;
  const limit = maxPoints ?? 0;
  const [points, evaluations] = await Promise.all([
    sql<
      { runId: string; curve: string; recall: number[]; precision: number[]; threshold: (number | null)[] }[]
    >`
      SELECT "runId", curve,
             array_agg(recall ORDER BY idx) AS recall,
             array_agg(precision ORDER BY idx) AS precision,
             array_agg(threshold ORDER BY idx) AS threshold
      FROM (
        SELECT "runId", curve, idx, recall, precision, threshold,
               row_number() OVER w - 1 AS pos, count(*) OVER w AS n
        FROM "PrCurvePoint"
        WHERE "runId" = ANY(${sql.array(runIds)}) AND split = ${split}
        WINDOW w AS (PARTITION BY "runId", curve ORDER BY idx
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
      ) p
      WHERE ${limit} = 0 OR n <= ${limit}
         OR pos % ceil((n - 1)::float8 / GREATEST(${limit} - 2, 1))::int = 0
         OR pos = n - 1
      GROUP BY "runId", curve`,
    sql<{ runId: string; perClass: Record<string, { ap?: number }> | null; microAp: number }[]>`
      SELECT "runId", "perClass", "microAp" FROM "Evaluation"
      WHERE "runId" = ANY(${sql.array(runIds)}) AND split = ${split}`,
  ]);
  const apByRun = new Map(evaluations.map((e) => [e.runId, e]));
  for (const p of points) {
    const target = out.get(p.runId);
    if (!target) continue;
    const ev = apByRun.get(p.runId);
    const ap = p.curve === "micro" ? (ev?.microAp ?? null) : (ev?.perClass?.[p.curve]?.ap ?? null);
    target.curves[p.curve] = {
      ap,
      points: p.recall.map((recall, i) => ({
        recall,
        precision: p.precision[i]!,
        threshold: p.threshold[i] ?? null,
      })),
    };
  }
  return out;
}
