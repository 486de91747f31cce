import type { Sql } from "@xnn/db";
import {
  type DatasetDetail,
  type DatasetRow,
  type DatasetVersion,
  datasetRowSchema,
  datasetVersionSchema,
  PRODUCTION_ALIAS,
  toTimestamp,
} from "@xnn/shared/records";

/** A row as postgres.js reads it: timestamps are Dates until the record is built. */
type Stored<T, K extends keyof T> = Omit<T, K> & { [P in K]: Date };

/** Validates a stored data set row into the API's record (shared with the dashboard). */
function datasetRecord(row: Stored<DatasetRow, "updatedAt">): DatasetRow {
  return datasetRowSchema.parse({ ...row, updatedAt: toTimestamp(row.updatedAt) });
}

function versionRecord(row: Stored<DatasetVersion, "createdAt">): DatasetVersion {
  return datasetVersionSchema.parse({ ...row, createdAt: toTimestamp(row.createdAt) });
}

export const DATASET_SORT_FIELDS = ["id", "name", "root", "updatedAt"] as const;
export type DatasetSortField = (typeof DATASET_SORT_FIELDS)[number];

export async function listDatasets(
  sql: Sql,
  options: {
    sort: { field: DatasetSortField; order: "asc" | "desc" };
    skip: number;
    take: number;
    ids: string[] | null;
  },
): Promise<{ rows: DatasetRow[]; total: number }> {
  const where = options.ids ? sql`WHERE d.id = ANY(${sql.array(options.ids)}::text[])` : sql``;
  const order = sql.unsafe(`"${options.sort.field}" ${options.sort.order === "asc" ? "ASC" : "DESC"}, d.id`);
  const [rows, [count]] = await Promise.all([
    sql<Stored<DatasetRow, "updatedAt">[]>`
      SELECT d.id, d.name, d.root, d."classNames", d."classCounts", d."updatedAt",
        (SELECT count(*)::int FROM "DatasetVersion" v WHERE v."datasetId" = d.id) AS versions,
        (SELECT v.id FROM "DatasetVersion" v WHERE v."datasetId" = d.id ORDER BY v."createdAt" DESC, v.id LIMIT 1)
          AS "latestVersionId"
      FROM "Dataset" d ${where}
      ORDER BY ${order} OFFSET ${options.skip} LIMIT ${options.take}`,
    sql<{ n: number }[]>`SELECT count(*)::int AS n FROM "Dataset" d ${where}`,
  ]);
  return { rows: rows.map(datasetRecord), total: count?.n ?? 0 };
}

const VERSION_COLUMNS = (sql: Sql) => sql`
  v.id, v."datasetId", d.root, d.name, v.fingerprint, v."classNames", v."classCounts", v."imageCount",
  v.formats, v.sizes, v.unreadable, v."maskCount", v."registeredBy", v."createdAt",
  (SELECT count(*)::int FROM "Run" r WHERE r."datasetVersionId" = v.id) AS runs`;

/** A data set with every version it has had, newest first; null when there is no such data set. */
export async function getDataset(sql: Sql, id: string): Promise<DatasetDetail | null> {
  const { rows } = await listDatasets(sql, {
    sort: { field: "id", order: "asc" },
    skip: 0,
    take: 1,
    ids: [id],
  });
  const dataset = rows[0];
  if (!dataset) return null;
  const versions = await sql<Stored<DatasetVersion, "createdAt">[]>`
    SELECT ${VERSION_COLUMNS(sql)} FROM "DatasetVersion" v JOIN "Dataset" d ON d.id = v."datasetId"
    WHERE v."datasetId" = ${id} ORDER BY v."createdAt" DESC, v.id`;
  return { ...dataset, versionList: versions.map(versionRecord) };
}

export async function getDatasetVersion(sql: Sql, id: string): Promise<DatasetVersion | null> {
  const [row] = await sql<Stored<DatasetVersion, "createdAt">[]>`
    SELECT ${VERSION_COLUMNS(sql)} FROM "DatasetVersion" v JOIN "Dataset" d ON d.id = v."datasetId"
    WHERE v.id = ${id}`;
  return row ? versionRecord(row) : null;
}

/**
 * Which data set versions a sweep's runs trained on. `changed` flags a sweep whose runs saw
 * different contents of a data set (the same root, another fingerprint): their scores are not
 * comparable as they stand.
 */
export async function sweepDatasets(sql: Sql, sweepId: string) {
  const versions = await sql<
    {
      versionId: string;
      datasetId: string;
      root: string;
      fingerprint: string;
      createdAt: Date;
      runs: number;
    }[]
  >`
    SELECT v.id AS "versionId", v."datasetId", d.root, v.fingerprint, v."createdAt", count(*)::int AS runs
    FROM "Run" r JOIN "DatasetVersion" v ON v.id = r."datasetVersionId" JOIN "Dataset" d ON d.id = v."datasetId"
    WHERE r."sweepId" = ${sweepId}
    GROUP BY v.id, d.root ORDER BY v."createdAt", v.id`;
  const [unlinked] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM "Run" WHERE "sweepId" = ${sweepId} AND "datasetVersionId" IS NULL`;
  const perDataset = new Map<string, number>();
  for (const v of versions) perDataset.set(v.datasetId, (perDataset.get(v.datasetId) ?? 0) + 1);
  const changedRoots = versions.filter((v) => (perDataset.get(v.datasetId) ?? 0) > 1).map((v) => v.root);
  return {
    sweepId,
    versions,
    runsWithoutDataset: unlinked?.n ?? 0,
    changed: changedRoots.length > 0,
    changedRoots: [...new Set(changedRoots)],
  };
}

/**
 * The tasks whose production model trained on some version of this data set: whose explanation
 * the data set page shows. Runs from before data sets were recorded are not linked and not seen.
 */
export async function productionTasksOfDataset(sql: Sql, datasetId: string): Promise<string[]> {
  const rows = await sql<{ task: string }[]>`
    SELECT DISTINCT m.task FROM "ModelVersion" m
    JOIN "Run" r ON r.id = m."runId"
    JOIN "DatasetVersion" v ON v.id = r."datasetVersionId"
    WHERE m.alias = ${PRODUCTION_ALIAS} AND v."datasetId" = ${datasetId}
    ORDER BY m.task`;
  return rows.map((r) => r.task);
}
