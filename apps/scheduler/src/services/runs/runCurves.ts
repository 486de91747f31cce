import type { Sql, TransactionSql } from "@xnn/db";
import type { CurvePoint, RunCurves } from "@xnn/shared/records";

export type { CurvePoint, RunCurves };

/** Points per curve kept in RunCurveSummary, and sent when few runs are compared. */
export const DISPLAY_CURVE_POINTS = 200;
/** Points per curve a comparison of many runs still gets. */
export const MIN_DISPLAY_CURVE_POINTS = 50;
/** Points of one curve (one class, or micro) summed over the compared runs, above the minimum. */
export const DISPLAY_CURVE_BUDGET = 10_000;
/** Curve values for drawing: 4 decimals are below a pixel and halve the JSON. */
export const DISPLAY_CURVE_DECIMALS = 4;

/** One curve as columns, the way RunCurveSummary keeps it. */
export interface CurveColumns {
  recall: number[];
  precision: number[];
}
type ColumnsByCurve = Record<string, CurveColumns>;
type PointsByCurve = Record<string, CurvePoint[]>;
type ApRow = { runId: string; perClass: Record<string, { ap?: number }> | null; microAp: number };

const TERMINAL = ["succeeded", "failed", "cancelled", "pruned"];

/**
 * Points per curve for a comparison of `runs` runs: all DISPLAY_CURVE_POINTS up to 50 runs, then
 * DISPLAY_CURVE_BUDGET shared out, never below MIN_DISPLAY_CURVE_POINTS (200 runs: 50 points).
 * The dashboard draws fewer than that (30 per line at 200 runs), so nothing visible is lost.
 */
export function displayPointsPerCurve(runs: number): number {
  const share = Math.floor(DISPLAY_CURVE_BUDGET / Math.max(1, runs));
  return Math.max(MIN_DISPLAY_CURVE_POINTS, Math.min(DISPLAY_CURVE_POINTS, share));
}

/**
 * Indices of at most `maxPoints` of `n` points, evenly spaced by index, always with the first and
 * the last (the ends of a PR curve: recall 1 and recall 0). Every index when n <= maxPoints.
 */
export function thinIndices(n: number, maxPoints: number): number[] {
  if (n <= Math.max(maxPoints, 2)) return Array.from({ length: n }, (_, i) => i);
  const m = Math.max(maxPoints, 2);
  const step = (n - 1) / (m - 1);
  return Array.from({ length: m }, (_, i) => Math.round(i * step));
}

/** A stored curve as points, thinned to `maxPoints`. */
export function curvePoints(curve: CurveColumns, maxPoints: number): CurvePoint[] {
  return thinIndices(curve.recall.length, maxPoints).map((i) => ({
    recall: curve.recall[i]!,
    precision: curve.precision[i]!,
  }));
}

/** Every point of the runs' curves for one split, keyed by run id, with each curve's AP. */
export async function runCurves(sql: Sql, runIds: string[], split: string): Promise<Map<string, RunCurves>> {
  const [rows, aps] = await Promise.all([readCurves(sql, runIds, split, 0), readAps(sql, runIds, split)]);
  const points = new Map<string, PointsByCurve>();
  for (const r of rows) {
    const curves = points.get(r.runId) ?? {};
    curves[r.curve] = r.recall.map((recall, i) => ({
      recall,
      precision: r.precision[i]!,
      threshold: r.threshold?.[i] ?? null,
    }));
    points.set(r.runId, curves);
  }
  return withAps(runIds, split, points, aps);
}

/**
 * Curves for a comparison: thinned to `maxPoints` (by default as many as the number of runs
 * allows, see displayPointsPerCurve), rounded, without thresholds. The AP is the evaluation's,
 * exact, not recomputed from the thinned points. Finished runs' curves no longer change, so the
 * first comparison stores them (DISPLAY_CURVE_POINTS per curve, as columns) in RunCurveSummary
 * (a trigger on PrCurvePoint drops them if the points do change) and later ones read those small
 * rows instead of every point.
 */
export async function displayCurves(
  sql: Sql,
  runIds: string[],
  split: string,
  maxPoints = displayPointsPerCurve(runIds.length),
): Promise<Map<string, RunCurves>> {
  const [stored, aps] = await Promise.all([storedSummaries(sql, runIds, split), readAps(sql, runIds, split)]);
  const missing = runIds.filter((id) => !stored.has(id));
  const computed = await summarise(sql, missing, split);
  if (computed.size > 0) await storeSummaries(sql, computed, split);
  const points = new Map<string, PointsByCurve>();
  for (const [runId, curves] of [...stored, ...computed]) {
    const byCurve: PointsByCurve = {};
    for (const [name, curve] of Object.entries(curves)) byCurve[name] = curvePoints(curve, maxPoints);
    points.set(runId, byCurve);
  }
  return withAps(runIds, split, points, aps);
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

/** The runs' curves thinned to DISPLAY_CURVE_POINTS and rounded, as columns. */
async function summarise(sql: Sql, runIds: string[], split: string): Promise<Map<string, ColumnsByCurve>> {
  const out = new Map<string, ColumnsByCurve>();
  if (runIds.length === 0) return out;
  // The plan's cost grows with the number of runs and passes jit_above_cost from ~30 runs on; JIT
  // then spent ~200 ms compiling a query that runs in ~400 ms (200 runs x 2,400 points).
  const rows = await sql.begin(async (tx) => {
    await tx`SET LOCAL jit = off`;
    return readCurves(tx, runIds, split, DISPLAY_CURVE_POINTS);
  });
  const scale = 10 ** DISPLAY_CURVE_DECIMALS;
  const round = (v: number) => Math.round(v * scale) / scale;
  for (const r of rows) {
    const curves = out.get(r.runId) ?? {};
    curves[r.curve] = { recall: r.recall.map(round), precision: r.precision.map(round) };
    out.set(r.runId, curves);
  }
  return out;
}

type CurveRow = {
  runId: string;
  curve: string;
  recall: number[];
  precision: number[];
  /** Only when not thinned. */
  threshold?: (number | null)[];
};

/**
 * Curves read from the points, thinned when maxPoints > 0. Per run (LATERAL), so each curve is read
 * in index order (runId, split, curve, idx) and never sorted together with the other runs' points
 * (that sort spilled to disk at 200 runs). `last` is the curve's highest idx; idx divisible by the
 * stride, plus the last point, is at most maxPoints points. Thinned curves come without thresholds.
 */
async function readCurves(
  sql: Sql | TransactionSql,
  runIds: string[],
  split: string,
  maxPoints: number,
): Promise<CurveRow[]> {
  if (runIds.length === 0) return [];
  return sql<CurveRow[]>`
    SELECT r.id AS "runId", c.*
    FROM unnest(${sql.array(runIds)}::text[]) AS r(id)
    CROSS JOIN LATERAL (
      SELECT curve,
             array_agg(recall ORDER BY idx) AS recall,
             array_agg(precision ORDER BY idx) AS precision
             ${maxPoints === 0 ? sql`, array_agg(threshold ORDER BY idx) AS threshold` : sql``}
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
}

async function storedSummaries(sql: Sql, runIds: string[], split: string) {
  if (runIds.length === 0) return new Map<string, ColumnsByCurve>();
  const rows = await sql<{ runId: string; curves: ColumnsByCurve }[]>`
    SELECT "runId", curves FROM "RunCurveSummary"
    WHERE "runId" = ANY(${sql.array(runIds)}::text[]) AND split = ${split}
      AND "maxPoints" = ${DISPLAY_CURVE_POINTS}`;
  return new Map(rows.map((r) => [r.runId, r.curves]));
}

/** Only finished runs: a running one may still write points. */
async function storeSummaries(sql: Sql, computed: Map<string, ColumnsByCurve>, split: string) {
  const finished = await sql<{ id: string }[]>`
    SELECT id FROM "Run" WHERE id = ANY(${sql.array([...computed.keys()])}::text[])
      AND status::text = ANY(${sql.array(TERMINAL)}::text[])`;
  const rows = finished.map(({ id }) => ({
    runId: id,
    split,
    maxPoints: DISPLAY_CURVE_POINTS,
    // Typed json (oid 114): serialised once, stored and returned as that text.
    curves: sql.typed(computed.get(id) as never, 114),
  }));
  if (rows.length === 0) return;
  await sql`
    INSERT INTO "RunCurveSummary" ${sql(rows, "runId", "split", "maxPoints", "curves")}
    ON CONFLICT DO NOTHING`;
}
