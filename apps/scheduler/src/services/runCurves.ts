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

/** Points per curve in comparisons; enough for a chart, small enough for 200 runs at once. */
export const DISPLAY_CURVE_POINTS = 200;
/** Curve values for drawing: 4 decimals are below a pixel and halve the JSON. */
export const DISPLAY_CURVE_DECIMALS = 4;

type PointsByCurve = Record<string, CurvePoint[]>;
type ApRow = { runId: string; perClass: Record<string, { ap?: number }> | null; microAp: number };

const TERMINAL = ["succeeded", "failed", "cancelled"];

/** Every point of the runs' curves for one split, keyed by run id, with each curve's AP. */
export async function runCurves(sql: Sql, runIds: string[], split: string): Promise<Map<string, RunCurves>> {
  const [points, aps] = await Promise.all([readCurves(sql, runIds, split, 0), readAps(sql, runIds, split)]);
  return withAps(runIds, split, points, aps);
}

/**
 * Curves thinned to DISPLAY_CURVE_POINTS and rounded, for comparisons. Finished runs' curves no
 * longer change, so the first comparison stores them in RunCurveSummary (a trigger on PrCurvePoint
 * drops them if the points do change) and later ones read 200 small rows instead of every point.
 */
export async function displayCurves(
  sql: Sql,
  runIds: string[],
  split: string,
): Promise<Map<string, RunCurves>> {
  const [stored, aps] = await Promise.all([storedSummaries(sql, runIds, split), readAps(sql, runIds, split)]);
  const missing = runIds.filter((id) => !stored.has(id));
  const computed = await readCurves(sql, missing, split, DISPLAY_CURVE_POINTS);
  const scale = 10 ** DISPLAY_CURVE_DECIMALS;
  const round = (v: number) => Math.round(v * scale) / scale;
  for (const curves of computed.values()) {
    for (const points of Object.values(curves)) {
      for (const p of points) {
        p.recall = round(p.recall);
        p.precision = round(p.precision);
        if (p.threshold !== null) p.threshold = round(p.threshold);
      }
    }
  }
  if (computed.size > 0) await storeSummaries(sql, computed, split);
  return withAps(runIds, split, new Map([...stored, ...computed]), aps);
}

function readAps(sql: Sql, runIds: string[], split: string) {
  if (runIds.length === 0) return Promise.resolve([] as ApRow[]);
  return sql<ApRow[]>`
    SELECT "runId", "perClass", "microAp" FROM "Evaluation"
    WHERE "runId" = ANY(${sql.array(runIds)}::text[]) AND split = ${split}`;
}

function withAps(
  runIds: string[],
  split: string,
  points: Map<string, PointsByCurve>,
  aps: ApRow[],
): Map<string, RunCurves> {
  const apByRun = new Map(aps.map((e) => [e.runId, e]));
  const out = new Map<string, RunCurves>();
  for (const runId of runIds) {
    const ev = apByRun.get(runId);
    const curves: RunCurves["curves"] = {};
    for (const [curve, list] of Object.entries(points.get(runId) ?? {})) {
      const ap = curve === "micro" ? (ev?.microAp ?? null) : (ev?.perClass?.[curve]?.ap ?? null);
      curves[curve] = { ap, points: list };
    }
    out.set(runId, { split, curves });
  }
  return out;
}

/**
 * Curves read from the points, thinned when maxPoints > 0. Per run (LATERAL), so each curve is read
 * in index order (runId, split, curve, idx) and never sorted together with the other runs' points
 * (that sort spilled to disk at 200 runs). `last` is the curve's highest idx; idx divisible by the
 * stride, plus the last point, is at most maxPoints points.
 */
async function readCurves(
  sql: Sql,
  runIds: string[],
  split: string,
  maxPoints: number,
): Promise<Map<string, PointsByCurve>> {
  const out = new Map<string, PointsByCurve>();
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
  for (const r of rows) {
    const curves = out.get(r.runId) ?? {};
    curves[r.curve] = r.recall.map((recall, i) => ({
      recall,
      precision: r.precision[i]!,
      threshold: r.threshold[i] ?? null,
    }));
    out.set(r.runId, curves);
  }
  return out;
}

async function storedSummaries(sql: Sql, runIds: string[], split: string) {
  if (runIds.length === 0) return new Map<string, PointsByCurve>();
  const rows = await sql<{ runId: string; curves: PointsByCurve }[]>`
    SELECT "runId", curves FROM "RunCurveSummary"
    WHERE "runId" = ANY(${sql.array(runIds)}::text[]) AND split = ${split}
      AND "maxPoints" = ${DISPLAY_CURVE_POINTS}`;
  return new Map(rows.map((r) => [r.runId, r.curves]));
}

/** Only finished runs: a running one may still write points. */
async function storeSummaries(sql: Sql, computed: Map<string, PointsByCurve>, split: string) {
  const finished = await sql<{ id: string }[]>`
    SELECT id FROM "Run" WHERE id = ANY(${sql.array([...computed.keys()])}::text[])
      AND status::text = ANY(${sql.array(TERMINAL)}::text[])`;
  const rows = finished.map(({ id }) => ({
    runId: id,
    split,
    maxPoints: DISPLAY_CURVE_POINTS,
    curves: sql.json(computed.get(id) as never),
  }));
  if (rows.length === 0) return;
  await sql`
    INSERT INTO "RunCurveSummary" ${sql(rows, "runId", "split", "maxPoints", "curves")}
    ON CONFLICT DO NOTHING`;
}
