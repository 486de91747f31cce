import type { Prisma, PrismaClient } from "@xnn/db";
import {
  type ModelVersionRow,
  PRODUCTION_ALIAS,
  type ProductionModel,
  toTimestamp,
} from "@xnn/shared/records";

export const MODEL_VERSION_SORT_FIELDS = ["id", "task", "version", "alias", "createdAt"] as const;
export type ModelVersionSortField = (typeof MODEL_VERSION_SORT_FIELDS)[number];
export const MODEL_VERSION_FILTERS = ["task", "alias", "runId"] as const;

export type { ModelVersionRow, ProductionModel };

const select = {
  id: true,
  task: true,
  version: true,
  runId: true,
  alias: true,
  createdAt: true,
  run: { select: { key: true, testF1: true } },
  checkpoint: { select: { uri: true, sha256: true, epoch: true, valF1: true } },
} satisfies Prisma.ModelVersionSelect;

function toRow(v: Prisma.ModelVersionGetPayload<{ select: typeof select }>): ModelVersionRow {
  const { run, checkpoint: _checkpoint, ...rest } = v;
  return { ...rest, createdAt: toTimestamp(rest.createdAt), runKey: run.key, testF1: run.testF1 };
}

export async function listModelVersions(
  prisma: PrismaClient,
  options: {
    sort: { field: ModelVersionSortField; order: "asc" | "desc" };
    skip: number;
    take: number;
    ids?: string[] | null;
    task?: string[];
    alias?: string[];
    runId?: string[];
  },
): Promise<{ rows: ModelVersionRow[]; total: number }> {
  const where: Prisma.ModelVersionWhereInput = {
    ...(options.ids ? { id: { in: options.ids } } : {}),
    ...(options.task ? { task: { in: options.task } } : {}),
    ...(options.alias ? { alias: { in: options.alias } } : {}),
    ...(options.runId ? { runId: { in: options.runId } } : {}),
  };
  const [rows, total] = await Promise.all([
    prisma.modelVersion.findMany({
      where,
      orderBy: [{ [options.sort.field]: options.sort.order }, { id: "asc" }],
      skip: options.skip,
      take: options.take,
      select,
    }),
    prisma.modelVersion.count({ where }),
  ]);
  return { rows: rows.map(toRow), total };
}

/** The task's production model with the checkpoint a serving process would load; null if none. */
export async function getProduction(prisma: PrismaClient, task: string): Promise<ProductionModel | null> {
  const v = await prisma.modelVersion.findUnique({
    where: { task_alias: { task, alias: PRODUCTION_ALIAS } },
    select,
  });
  return v ? { ...toRow(v), checkpoint: v.checkpoint } : null;
}
