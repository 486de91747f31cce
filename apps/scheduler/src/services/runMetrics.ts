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
  const rows = await sql<
    { runId: string; split: string; name: string; epochs: number[]; values: number[] }[]
  >`
    SELECT "runId", split, name,
           array_agg(epoch ORDER BY epoch) AS epochs,
           array_agg(value ORDER BY epoch) AS values
    FROM "EpochMetric"
    WHERE "runId" = ANY(${sql.array(runIds)})
    GROUP BY "runId", split, name`;
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
