import type { Sql } from "@xnn/db";
import type { EpochMetric, EpochSeries } from "@xnn/shared/records";

/** GET /api/runs/:id/metrics: every stored figure of the run, by epoch. */
export async function runMetrics(sql: Sql, runId: string): Promise<EpochMetric[]> {
  return sql<EpochMetric[]>`
    SELECT epoch, split, name, value FROM "EpochMetric"
    WHERE "runId" = ${runId}
    ORDER BY epoch, split, name`;
}

/**
 * Per-epoch series of many runs: `{ [runId]: { [split]: { [name]: values indexed by epoch } } }`,
 * with null where an epoch has no value. Aggregated in SQL so 200 runs x 50 epochs is a few
 * thousand rows on the wire, not a hundred thousand.
 */
export async function epochSeries(sql: Sql, runIds: string[]): Promise<Map<string, EpochSeries>> {
  const out = new Map<string, EpochSeries>();
  for (const id of runIds) out.set(id, {});
  if (runIds.length === 0) return out;
  // json_agg writes NaN and +-Infinity (a diverged loss) as strings; they answer null, as before.
  type SeriesRow = {
    runId: string;
    split: string;
    name: string;
    epochs: number[];
    values: (number | string)[];
  };
  // Grouped per run (LATERAL): each run's few hundred rows are grouped on their own, never all
  // runs' rows at once (that sort spilled to disk at 200 runs x 50 epochs). Unordered: every value
  // travels with its epoch, so the ordered aggregates' per-series sorts (a third of the query) are
  // not needed; json_agg because JSON.parse reads the arrays faster than postgres.js's array parser.
  const rows = await sql<SeriesRow[]>`
    SELECT r.id AS "runId", m.split, m.name, m.epochs, m.values
    FROM unnest(${sql.array(runIds)}::text[]) AS r(id)
    CROSS JOIN LATERAL (
      SELECT split, name, json_agg(epoch) AS epochs, json_agg(value) AS values
      FROM "EpochMetric"
      WHERE "runId" = r.id
      GROUP BY split, name
    ) m`;
  for (const r of rows) {
    const bySplit = out.get(r.runId);
    if (!bySplit) continue;
    const last = r.epochs.reduce((a, b) => Math.max(a, b), -1);
    const series: (number | null)[] = new Array(last + 1).fill(null);
    r.epochs.forEach((epoch, i) => {
      const value = r.values[i];
      series[epoch] = typeof value === "number" ? value : null;
    });
    bySplit[r.split] ??= {};
    bySplit[r.split]![r.name] = series;
  }
  return out;
}
