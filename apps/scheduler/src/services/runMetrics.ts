import type { Sql } from "@xnn/db";

export interface EpochMetricRow {
  epoch: number;
  split: string;
  name: string;
  value: number;
}

export async function runMetrics(sql: Sql, runId: string): Promise<EpochMetricRow[]> {
  return sql<EpochMetricRow[]>`
    SELECT epoch, split, name, value FROM "EpochMetric"
    WHERE "runId" = ${runId}
    ORDER BY epoch, split, name`;
}

/**
 * Per-epoch series of many runs: `{ [runId]: { [split]: { [name]: values indexed by epoch } } }`,
 * with null where an epoch has no value. Aggregated in SQL so 200 runs x 50 epochs is a few
 * thousand rows on the wire, not a hundred thousand.
 */
export async function epochSeries(
  sql: Sql,
  runIds: string[],
): Promise<Map<string, Record<string, Record<string, (number | null)[]>>>> {
  const out = new Map<string, Record<string, Record<string, (number | null)[]>>>();
  for (const id of runIds) out.set(id, {});
  if (runIds.length === 0) return out;
  type SeriesRow = { runId: string; split: string; name: string; epochs: number[]; values: number[] };
  // Grouped per run (LATERAL): each run's few hundred rows are sorted on their own, never all
  // runs' rows at once (that sort spilled to disk at 200 runs x 50 epochs).
  const rows = await sql<SeriesRow[]>`
    SELECT r.id AS "runId", m.split, m.name, m.epochs, m.values
    FROM unnest(${sql.array(runIds)}::text[]) AS r(id)
    CROSS JOIN LATERAL (
      SELECT split, name,
             array_agg(epoch ORDER BY epoch) AS epochs,
             array_agg(value ORDER BY epoch) AS values
      FROM "EpochMetric"
      WHERE "runId" = r.id
      GROUP BY split, name
    ) m`;
  for (const r of rows) {
    const bySplit = out.get(r.runId);
    if (!bySplit) continue;
    const series: (number | null)[] = [];
    r.epochs.forEach((epoch, i) => {
      while (series.length < epoch) series.push(null);
      series[epoch] = r.values[i]!;
    });
    bySplit[r.split] ??= {};
    bySplit[r.split]![r.name] = series;
  }
  return out;
}
