import type { PrismaClient } from "@xnn/db";

export interface RunState {
  id: string;
  key: string;
  status: string;
  epochsDone: number;
  epochs: number;
  bestValF1: number | null;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Polls a sweep's runs until every one has ended, reporting each snapshot. */
export async function watchSweep(
  prisma: PrismaClient,
  sweepId: string,
  onSnapshot: (runs: RunState[]) => void,
  options: { intervalMs?: number; signal?: AbortSignal } = {},
): Promise<RunState[]> {
  const interval = options.intervalMs ?? 1_000;
  for (;;) {
    const rows = await prisma.run.findMany({
      where: { sweepId },
      select: { id: true, key: true, status: true, epochsDone: true, bestValF1: true, config: true },
      orderBy: { key: "asc" },
    });
    const runs = rows.map((r) => ({
      id: r.id,
      key: r.key,
      status: r.status,
      epochsDone: r.epochsDone,
      epochs: ((r.config as { train?: { epochs?: number } }).train?.epochs ?? 0) as number,
      bestValF1: r.bestValF1,
    }));
    onSnapshot(runs);
    if (runs.every((r) => TERMINAL.has(r.status)) || options.signal?.aborted) return runs;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
