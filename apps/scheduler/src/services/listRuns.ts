import type { Prisma, PrismaClient, RunStatus, Stage } from "@xnn/db";
import { productionRunIds, type RunRow, runRowSelect, toRunRow } from "./runRows";

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
const NULLABLE = new Set<RunSortField>(["testF1", "bestValF1", "bestValLoss", "startedAt", "finishedAt"]);

export async function listRuns(
  prisma: PrismaClient,
  options: RunListOptions,
): Promise<{ rows: RunRow[]; total: number }> {
  const where: Prisma.RunWhereInput = {
    ...(options.ids ? { id: { in: options.ids } } : {}),
    ...(options.sweepId ? { sweepId: { in: options.sweepId } } : {}),
    ...(options.status ? { status: { in: options.status } } : {}),
    ...(options.model ? { model: { in: options.model } } : {}),
    ...(options.stage ? { stage: { in: options.stage } } : {}),
    ...(options.classWeighting ? { classWeighting: { in: options.classWeighting } } : {}),
    ...(options.q ? { key: { contains: options.q, mode: "insensitive" } } : {}),
  };
  const column = options.sort.field === "createdAt" ? "queuedAt" : options.sort.field;
  const order = options.sort.order;
  const orderBy: Prisma.RunOrderByWithRelationInput[] = [
    { [column]: NULLABLE.has(column) ? { sort: order, nulls: "last" } : order },
    // A stable tiebreak, so that pages neither repeat nor skip rows.
    { id: "asc" },
  ];
  const [runs, total] = await Promise.all([
    prisma.run.findMany({ where, orderBy, skip: options.skip, take: options.take, select: runRowSelect }),
    prisma.run.count({ where }),
  ]);
  const production = await productionRunIds(
    prisma,
    runs.map((r) => r.id),
  );
  return { rows: runs.map((r) => toRunRow(r, production)), total };
}
