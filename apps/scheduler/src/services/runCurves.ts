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

export interface CurveOptions {
  /** Thin each curve to at most this many points (an even stride keeping both ends). */
  maxPoints?: number;
  /** Round recall, precision and threshold to this many decimals (smaller payloads for charts). */
  decimals?: number;
}

/**
 * Precision-recall curves of runs for one split, keyed by run id, with each curve's AP from the
 * run's evaluation. Thinning happens in SQL so comparing 200 runs does not ship every threshold of
 * every test image.
 */
export async function runCurves(
  sql: Sql,
  runIds: string[],
  split: string,
  options: CurveOptions = {},
): Promise<Map<string, RunCurves>> {
  const out = new Map<string, RunCurves>(runIds.map((id) => [id, { split, curves: {} }]));
  if (runIds.length === 0) return out;
  const limit = options.maxPoints ?? 0;
  type PointRow = {
    runId: string;
    curve: string;
    recall: number[];
    precision: number[];
    threshold: (number | null)[];
  };
  const [points, evaluations] = await Promise.all([
    // Per run (LATERAL), so each curve is read in index order (runId, split, curve, idx) and never
    // sorted together with the other runs' points (that sort spilled to disk at 200 runs). `last`
    // is the curve's highest idx; idx divisible by the stride, plus the last point, is <= limit points.
    sql<PointRow[]>`
      SELECT r.id AS "runId", c.curve, c.recall, c.precision, c.threshold
      FROM unnest(${sql.array(runIds)}::text[]) AS r(id)
      CROSS JOIN LATERAL (
        SELECT curve,
               array_agg(recall ORDER BY idx) AS recall,
               array_agg(precision ORDER BY idx) AS precision,
               array_agg(threshold ORDER BY idx) AS threshold
        FROM (
          SELECT curve, idx, recall, precision, threshold, max(idx) OVER (PARTITION BY curve) AS last
          FROM "PrCurvePoint"
          WHERE "runId" = r.id AND split = ${split}
        ) q
        WHERE ${limit}::int = 0 OR last < ${limit}::int
           OR idx % ceil(last::float8 / GREATEST(${limit}::int - 2, 1))::int = 0
           OR idx = last
        GROUP BY curve
      ) c`,
    sql<{ runId: string; perClass: Record<string, { ap?: number }> | null; microAp: number }[]>`
      SELECT "runId", "perClass", "microAp" FROM "Evaluation"
      WHERE "runId" = ANY(${sql.array(runIds)}::text[]) AND split = ${split}`,
  ]);
  const scale = options.decimals === undefined ? 0 : 10 ** options.decimals;
  const round = scale ? (v: number) => Math.round(v * scale) / scale : (v: number) => v;
  const apByRun = new Map(evaluations.map((e) => [e.runId, e]));
  for (const p of points) {
    const target = out.get(p.runId);
    if (!target) continue;
    const ev = apByRun.get(p.runId);
    const ap = p.curve === "micro" ? (ev?.microAp ?? null) : (ev?.perClass?.[p.curve]?.ap ?? null);
    target.curves[p.curve] = {
      ap,
      points: p.recall.map((recall, i) => {
        const threshold = p.threshold[i] ?? null;
        return {
          recall: round(recall),
          precision: round(p.precision[i]!),
          threshold: threshold === null ? null : round(threshold),
        };
      }),
    };
  }
  return out;
}
