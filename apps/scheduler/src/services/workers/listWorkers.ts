import type { Prisma, PrismaClient } from "@xnn/db";
import { toTimestamp, type WorkerRow } from "@xnn/shared/records";

export const WORKER_SORT_FIELDS = [
  "id",
  "host",
  "status",
  "backend",
  "version",
  "lastHeartbeat",
  "startedAt",
] as const;
export type WorkerSortField = (typeof WORKER_SORT_FIELDS)[number];
export const WORKER_FILTERS = ["status", "host", "backend"] as const;

export type { WorkerRow };

export async function listWorkers(
  prisma: PrismaClient,
  options: {
    sort: { field: WorkerSortField; order: "asc" | "desc" };
    skip: number;
    take: number;
    ids?: string[] | null;
    status?: string[];
    host?: string[];
    backend?: string[];
  },
  now = new Date(),
): Promise<{ rows: WorkerRow[]; total: number }> {
  const where: Prisma.WorkerWhereInput = {
    ...(options.ids ? { id: { in: options.ids } } : {}),
    ...(options.status ? { status: { in: options.status } } : {}),
    ...(options.host ? { host: { in: options.host } } : {}),
    ...(options.backend ? { backend: { in: options.backend } } : {}),
  };
  const [workers, total] = await Promise.all([
    prisma.worker.findMany({
      where,
      orderBy: [{ [options.sort.field]: options.sort.order }, { id: "asc" }],
      skip: options.skip,
      take: options.take,
      select: {
        id: true,
        host: true,
        pid: true,
        gpus: true,
        backend: true,
        device: true,
        version: true,
        status: true,
        lastHeartbeat: true,
        currentRunId: true,
      },
    }),
    prisma.worker.count({ where }),
  ]);
  return {
    rows: workers.map((w) => ({
      ...w,
      lastHeartbeat: toTimestamp(w.lastHeartbeat),
      heartbeatAgeSec: Math.max(0, Math.round((now.getTime() - w.lastHeartbeat.getTime()) / 1000)),
    })),
    total,
  };
}
