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

/** Curves of one run as parallel arrays (the stored and the SQL-aggregated form). */
type SummaryCurves = Record<string, { recall: number[]; precision: number[]; threshold: (number | null)[] }>;

const TERMINAL = ["succeeded", "failed", "cancelled"];

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
  const [stored, evaluations] = await Promise.all([
    limit > 0
      ? storedSummaries(sql, runIds, split, limit)
      : Promise.resolve(new Map<string, SummaryCurves>()),
    sql<{ runId: string; perClass: Record<string, { ap?: number }> | null; microAp: number }[]>`
      SELECT "runId", "perClass", "microAp" FROM "Evaluation"
      WHERE "runId" = ANY(${sql.array(runIds)}::text[]) AND split = ${split}`,
  ]);
  const missing = runIds.filter((id) => !stored.has(id));
  const computed = await thinnedCurves(sql, missing, split, limit);
  if (limit > 0 && computed.size > 0) await storeSummaries(sql, computed, split, limit);
  const points = [...stored, ...computed].flatMap(([runId, curves]) =>
    Object.entries(curves).map(([curve, c]) => ({ runId, curve, ...c })),
  );
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

async function storedSummaries(sql: Sql, runIds: string[], split: string, maxPoints: number) {
  const rows = await sql<{ runId: string; curves: SummaryCurves }[]>`
    SELECT "runId", curves FROM "RunCurveSummary"
    WHERE "runId" = ANY(${sql.array(runIds)}::text[]) AND split = ${split} AND "maxPoints" = ${maxPoints}`;
  return new Map(rows.map((r) => [r.runId, r.curves]));
}

/**
 * Curves read from the points, thinned when maxPoints > 0. Per run (LATERAL), so each curve is read
 * in index order (runId, split, curve, idx) and never sorted together with the other runs' points
 * (that sort spilled to disk at 200 runs). `last` is the curve's highest idx; idx divisible by the
 * stride, plus the last point, is at most maxPoints points.
 */
async function thinnedCurves(sql: Sql, runIds: string[], split: string, maxPoints: number) {
  const out = new Map<string, SummaryCurves>();
  if (runIds.length === 0) return out;
  const rows = await sql<
    { runId: string; curve: string; recall: number[]; precision: number[]; threshold: (number | null)[] }[]
  >`
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
      WHERE ${maxPoints}::int = 0 OR last < ${maxPoints}::int
         OR idx % ceil(last::float8 / GREATEST(${maxPoints}::int - 2, 1))::int = 0
         OR idx = last
      GROUP BY curve
    ) c`;
  for (const { runId, curve, ...arrays } of rows) {
    const curves = out.get(runId) ?? {};
    curves[curve] = arrays;
    out.set(runId, curves);
  }
  return out;
}

/**
 * Keeps thinned curves of finished runs, whose points no longer change (a trigger on PrCurvePoint
 * drops them if they do), so the next comparison reads 200 small rows instead of every point.
 */
async function storeSummaries(
  sql: Sql,
  computed: Map<string, SummaryCurves>,
  split: string,
  maxPoints: number,
) {
  const finished = await sql<{ id: string }[]>`
    SELECT id FROM "Run" WHERE id = ANY(${sql.array([...computed.keys()])}::text[])
      AND status::text = ANY(${sql.array(TERMINAL)}::text[])`;
  const rows = finished.map(({ id }) => ({
    runId: id,
    split,
    maxPoints,
    curves: sql.json(computed.get(id) as never),
  }));
  if (rows.length === 0) return;
  await sql`
    INSERT INTO "RunCurveSummary" ${sql(rows, "runId", "split", "maxPoints", "curves")}
    ON CONFLICT DO NOTHING`;
}
