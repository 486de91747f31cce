import type { Prisma, PrismaClient, SweepStatus } from "@xnn/db";
import type { SweepSearch } from "@xnn/shared";
import { PRODUCTION_ALIAS, type SweepDetail, type SweepRow, toTimestamp } from "@xnn/shared/records";

export const SWEEP_SORT_FIELDS = ["id", "name", "task", "status", "createdAt", "createdBy"] as const;
export type SweepSortField = (typeof SWEEP_SORT_FIELDS)[number];
export const SWEEP_FILTERS = ["q", "name", "status", "task"] as const;

export type { SweepDetail, SweepRow };

export interface SweepListOptions {
  sort: { field: SweepSortField; order: "asc" | "desc" };
  skip: number;
  take: number;
  ids?: string[] | null;
  q?: string;
  name?: string[];
  status?: SweepStatus[];
  task?: string[];
}

const sweepSelect = {
  id: true,
  name: true,
  task: true,
  status: true,
  createdAt: true,
  createdBy: true,
} satisfies Prisma.SweepSelect;

export async function listSweeps(
  prisma: PrismaClient,
  options: SweepListOptions,
): Promise<{ rows: SweepRow[]; total: number }> {
  const where: Prisma.SweepWhereInput = {
    ...(options.ids ? { id: { in: options.ids } } : {}),
    ...(options.q ? { name: { contains: options.q, mode: "insensitive" } } : {}),
    ...(options.name ? { name: { in: options.name } } : {}),
    ...(options.status ? { status: { in: options.status } } : {}),
    ...(options.task ? { task: { in: options.task } } : {}),
  };
  const [sweeps, total] = await Promise.all([
    prisma.sweep.findMany({
      where,
      orderBy: [{ [options.sort.field]: options.sort.order }, { id: "asc" }],
      skip: options.skip,
      take: options.take,
      select: sweepSelect,
    }),
    prisma.sweep.count({ where }),
  ]);
  const stats = await runStats(
    prisma,
    sweeps.map((s) => s.id),
  );
  return {
    rows: sweeps.map((s) => ({
      ...s,
      createdAt: toTimestamp(s.createdAt),
      ...(stats.get(s.id) ?? emptyStats()),
    })),
    total,
  };
}

export async function getSweep(prisma: PrismaClient, id: string): Promise<SweepDetail | null> {
  const sweep = await prisma.sweep.findUnique({
    where: { id },
    select: { ...sweepSelect, sourceYaml: true, error: true, search: true },
  });
  if (!sweep) return null;
  const stored = sweep.search as (SweepSearch & Record<string, unknown>) | null;
  const search = stored
    ? {
        method: stored.method,
        seed: stored.seed,
        runs: stored.runs,
        space: stored.space,
        earlyTerminate: stored.earlyTerminate,
      }
    : null;
  const [stats, production] = await Promise.all([
    runStats(prisma, [id]),
    prisma.modelVersion.findUnique({
      where: { task_alias: { task: sweep.task, alias: PRODUCTION_ALIAS } },
      select: { runId: true, version: true },
    }),
  ]);
  return {
    ...sweep,
    createdAt: toTimestamp(sweep.createdAt),
    search,
    ...(stats.get(id) ?? emptyStats()),
    production,
  };
}

function emptyStats(): Omit<SweepRow, "id" | "name" | "task" | "status" | "createdAt" | "createdBy"> {
  return { runsTotal: 0, runsDone: 0, runsFailed: 0, runsRunning: 0, runsPruned: 0, bestTestF1: null };
}

/** Run counts per status and the best test F1, for a page of sweeps, in one grouped query. */
async function runStats(prisma: PrismaClient, sweepIds: string[]) {
  const out = new Map<string, ReturnType<typeof emptyStats>>();
  if (sweepIds.length === 0) return out;
  const groups = await prisma.run.groupBy({
    by: ["sweepId", "status"],
    where: { sweepId: { in: sweepIds } },
    _count: { _all: true },
    _max: { testF1: true },
  });
  for (const g of groups) {
    const s = out.get(g.sweepId) ?? { ...emptyStats() };
    const n = g._count._all;
    s.runsTotal += n;
    if (g.status === "succeeded") s.runsDone += n;
    if (g.status === "failed") s.runsFailed += n;
    if (g.status === "running") s.runsRunning += n;
    if (g.status === "pruned") s.runsPruned += n;
    const best = g._max.testF1;
    if (best !== null && (s.bestTestF1 === null || best > s.bestTestF1)) s.bestTestF1 = best;
    out.set(g.sweepId, s);
  }
  return out;
}
