import type { Prisma, PrismaClient } from "@xnn/db";

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

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  gpus: unknown;
  backend: string;
  /** What the backend computes on ("GPU 0: <name>, <memory> MiB" or "CPU: <model>"); null for old rows. */
  device: string | null;
  version: string;
  status: string;
  lastHeartbeat: Date;
  /** Computed by the server so a dashboard on a skewed clock still sees a stale worker as stale. */
  heartbeatAgeSec: number;
  currentRunId: string | null;
}

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
      heartbeatAgeSec: Math.max(0, Math.round((now.getTime() - w.lastHeartbeat.getTime()) / 1000)),
    })),
    total,
  };
}
