import type { RunStatus, Sql, Stage } from "@xnn/db";
import { PRODUCTION_ALIAS, toTimestamp } from "@xnn/shared/records";
import { type ExplanationColumns, type RunRow, toExplanation } from "./runRows";

/** A row as postgres.js reads it: Dates, the config's epochs as JSON, the explanation as columns. */
type ListedRun = Omit<RunRow, "explanation" | "epochs" | "queuedAt" | "startedAt" | "finishedAt"> &
  ExplanationColumns & { epochs: unknown; queuedAt: Date; startedAt: Date | null; finishedAt: Date | null };

export const RUN_SORT_FIELDS = [
  "id",
  "key",
  "model",
  "classWeighting",
  "stage",
  "status",
  "testF1",
  "bestValF1",
  "bestValLoss",
  "createdAt",
  "queuedAt",
  "startedAt",
  "finishedAt",
  "epochsDone",
  "trial",
] as const;
export type RunSortField = (typeof RUN_SORT_FIELDS)[number];

export const RUN_FILTERS = ["sweepId", "status", "model", "stage", "classWeighting", "q"] as const;

export interface RunListOptions {
  sort: { field: RunSortField; order: "asc" | "desc" };
  skip: number;
  take: number;
  ids?: string[] | null;
  sweepId?: string[];
  status?: RunStatus[];
  model?: string[];
  stage?: Stage[];
  classWeighting?: string[];
  /** Substring of the run key. */
  q?: string;
}

// Nullable columns sort their nulls last in both directions: unfinished runs never top a leaderboard.
const NULLABLE = new Set<string>(["testF1", "bestValF1", "bestValLoss", "startedAt", "finishedAt", "trial"]);

/**
 * One page of runs and the filtered total, in two parallel postgres.js queries (Prisma needed four
 * round trips and most of the time). The page is picked from ids and the sort column only, then
 * joined to the full rows, so the JSON config is read for 25 rows, not 10,000. For nullable sort
 * columns the non-null and null parts are paged separately: `testF1 DESC NULLS LAST` then walks the
 * plain testF1 index backwards instead of sorting every run.
 */
export async function listRuns(
  sql: Sql,
  options: RunListOptions,
): Promise<{ rows: RunRow[]; total: number }> {
  const where = sql`
    TRUE
    ${options.ids ? sql`AND id = ANY(${sql.array(options.ids)}::text[])` : sql``}
    ${options.sweepId ? sql`AND "sweepId" = ANY(${sql.array(options.sweepId)}::text[])` : sql``}
    ${options.status ? sql`AND status = ANY(${sql.array(options.status)}::text[]::"RunStatus"[])` : sql``}
    ${options.model ? sql`AND model = ANY(${sql.array(options.model)}::text[])` : sql``}
    ${options.stage ? sql`AND stage = ANY(${sql.array(options.stage)}::text[]::"Stage"[])` : sql``}
    ${options.classWeighting ? sql`AND "classWeighting" = ANY(${sql.array(options.classWeighting)}::text[])` : sql``}
    ${options.q ? sql`AND key ILIKE ${`%${options.q.replace(/[\\%_]/g, "\\$&")}%`}` : sql``}`;
  const column = sql(options.sort.field === "createdAt" ? "queuedAt" : options.sort.field);
  const dir = options.sort.order === "asc" ? sql`ASC` : sql`DESC`;
  const upTo = options.skip + options.take;
  const page = NULLABLE.has(options.sort.field === "createdAt" ? "queuedAt" : options.sort.field)
    ? sql`
        (SELECT id, ${column} AS s, 0 AS part FROM "Run"
         WHERE ${where} AND ${column} IS NOT NULL ORDER BY ${column} ${dir}, id LIMIT ${upTo})
        UNION ALL
        (SELECT id, NULL, 1 FROM "Run" WHERE ${where} AND ${column} IS NULL ORDER BY id LIMIT ${upTo})`
    : sql`(SELECT id, ${column} AS s, 0 AS part FROM "Run" WHERE ${where} ORDER BY ${column} ${dir}, id LIMIT ${upTo})`;
  const [rows, count] = await Promise.all([
    sql<ListedRun[]>`
      SELECT r.id, r."sweepId", r.key, r.model, r."classWeighting", r.stage::text AS stage,
             r.status::text AS status, r.attempt, r."epochsDone", (r.config #> '{train,epochs}') AS epochs,
             r."bestEpoch", r."bestValF1", r."bestValLoss", r."testF1", r."workerId",
             r."queuedAt" AT TIME ZONE 'UTC' AS "queuedAt", r."startedAt" AT TIME ZONE 'UTC' AS "startedAt",
             r."finishedAt" AT TIME ZONE 'UTC' AS "finishedAt", r.error, r.trial, r.params, r.pruned,
             EXISTS (SELECT 1 FROM "ModelVersion" mv WHERE mv."runId" = r.id AND mv.alias = ${PRODUCTION_ALIAS})
               AS "isProduction",
             e."probeImages", e."completenessGap", e."stepsUsed", e."deletionAuc", e."insertionAuc",
             e."maskShare", e."explainMs"
      FROM (${page}) p JOIN "Run" r ON r.id = p.id
        LEFT JOIN "Evaluation" e ON e."runId" = r.id AND e.split = 'test'
      ORDER BY p.part, p.s ${dir}, p.id
      OFFSET ${options.skip} LIMIT ${options.take}`,
    sql<{ total: number }[]>`SELECT count(*)::int AS total FROM "Run" WHERE ${where}`,
  ]);
  return {
    rows: rows.map(
      ({
        probeImages,
        completenessGap,
        stepsUsed,
        deletionAuc,
        insertionAuc,
        maskShare,
        explainMs,
        ...r
      }): RunRow => ({
        ...r,
        epochs: typeof r.epochs === "number" ? r.epochs : null,
        queuedAt: toTimestamp(r.queuedAt),
        startedAt: toTimestamp(r.startedAt),
        finishedAt: toTimestamp(r.finishedAt),
        explanation: toExplanation({
          probeImages,
          completenessGap,
          stepsUsed,
          deletionAuc,
          insertionAuc,
          maskShare,
          explainMs,
        }),
      }),
    ),
    total: count[0]?.total ?? 0,
  };
}
